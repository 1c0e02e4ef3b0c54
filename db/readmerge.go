package db

import (
	"math"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/lsm"
)

// Read-triggered merges. Lazy leveling keeps up to K runs at the levels
// above the last so writes are cheap, and level 0 keeps up to
// L0CompactionTrigger-1 runs; once writes stop, nothing makes the merge
// policy fold them, and every iterator keeps positioning a cursor in each
// of them. As LevelDB does with seeks that miss (its "allowed seeks"),
// readers here count the work the extra runs cost them, and once that adds
// up to the cost of folding the runs, the merge goroutine folds them (see
// lsm.Picker.PickForReads) when no merge is due by the tree's shape.
//
// The unit: one iterator positioning (First, Last, SeekGE, SeekLT) over a
// version with E excess runs counts E, where the excess is the runs of
// level 0 plus those beyond the first at every deeper level. A fold of B
// input bytes is worth B/readSeekBytes counts: LevelDB charges one seek
// per 16 KiB of a file. Point lookups that get past the memtables count
// too, at a fraction: the Bloom filters make an extra run cheap for them
// but not free (a filter probe, and now and then a false positive's
// descent), so a database that only serves gets after its writes stop
// still folds what they left, as a scanned one does.

// readSeekBytes is the merge input that one excess-run positioning pays for.
const readSeekBytes = 16 << 10

// getsPerPositioning is how many point lookups over E excess runs count
// as one positioning (E). In the peer benchmark a lookup of a missing key
// took about 1.1 µs over three sources, so about 0.3 µs per filter probed,
// while positioning a cursor took about 1.9 µs per run (SeekGE over three
// runs, 5.8 µs): a lookup costs an extra run about a sixth of what a seek
// does. Eight errs toward folding later.
const getsPerPositioning = 8

// readDebt is what readers owe the extra runs since the last fold.
type readDebt struct {
	// debt counts excess-run positionings since the last read merge.
	debt atomic.Int64
	// wake is the debt at which a reader wakes the merge goroutine; the
	// goroutine sets it while it waits (MaxInt64: no fold to wait for).
	wake atomic.Int64
}

// excessRuns returns the runs of v a read visits beyond one per non-empty
// level from 1 down.
func excessRuns(v *lsm.Version) int {
	n := 0
	for l, runs := range v.Levels {
		n += len(runs)
		if l > 0 && len(runs) > 0 {
			n--
		}
	}
	return n
}

// noteExcessRuns adds n to the read debt and wakes the merge goroutine when
// the debt reaches what the pending fold costs.
func (d *DB) noteExcessRuns(n int) {
	if n <= 0 {
		return
	}
	if d.reads.debt.Add(int64(n)) < d.reads.wake.Load() {
		return
	}
	w := d.reads.wake.Load()
	if w != math.MaxInt64 && d.reads.wake.CompareAndSwap(w, math.MaxInt64) {
		d.mu.Lock()
		d.bgCond.Broadcast()
		d.mu.Unlock()
	}
}

// readMergeLocked returns the fold the readers have paid for, or nil; when
// there is a fold to wait for, it arms the readers' wake-up. With skip0 it
// leaves level 0 alone (level0Loop has it). d.mu is held.
func (d *DB) readMergeLocked(skip0 bool) *lsm.Compaction {
	c := d.picker.PickForReads(d.version, skip0)
	if c == nil {
		d.reads.wake.Store(math.MaxInt64)
		return nil
	}
	need := int64(c.InputBytes()/readSeekBytes) + 1
	if d.reads.debt.Load() < need {
		d.reads.wake.Store(need)
		// A reader that added to the debt before the store saw the old
		// threshold and did not wake us: look again.
		if d.reads.debt.Load() < need {
			return nil
		}
		d.reads.wake.Store(math.MaxInt64)
	}
	d.reads.debt.Store(0)
	d.stats.readMerges++
	return c
}
