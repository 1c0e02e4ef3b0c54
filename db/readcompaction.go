package db

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
)

// Read-triggered compactions. Lazy leveling keeps up to K runs at the levels
// above the last so writes are cheap, and level 0 keeps up to
// L0CompactionTrigger-1 runs; once writes stop, nothing makes the compaction
// policy fold them, and every iterator keeps positioning a cursor in each
// of them. As LevelDB does with seeks that miss (its "allowed seeks"),
// readers here count the work the extra runs cost them, and once that adds
// up to the cost of folding the runs, the compaction goroutine folds them (see
// lsm.Picker.PickForReads) when no compaction is due by the tree's shape.
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
//
// Levels. With one run per level a read still visits every non-empty
// level, and each costs a positioning like an excess run does. Readers
// keep a second account of those, and once it pays for compacting the
// shallowest level into the next (lsm.Picker.PickLevelsForReads), the
// compaction goroutine runs that, but only if no write came in while the
// readers paid: while writes go on, the upper levels fill again and the
// compactions due by shape move them down anyway, and folding a level early
// would rewrite the next one's overlap every time the account refilled
// (the seek-triggered compactions that RocksDB turned off for their write
// amplification). When writes stop, the tree's shape is final, and each
// level fold serves every read after it.
//
// The whole tree. Once writes have stopped for a moment (200 ms, the
// unexported Options.quietAfter), the folds above would go on piece by
// piece: level 0 into level 1, then level 1 into level 2, and so on, each
// rewriting the level below once for every level folded into it (at 1M
// keys of 100 bytes, 122 MB of input where one fold needs 97). Instead
// readers pay, with both accounts, for one fold of every run into the last
// level (lsm.Picker.PickFold), whose output is final. While writes go on,
// the piece folds stay: they are cheaper to pay for, and the writes would
// soon refill what a whole fold had emptied. A whole fold can take
// seconds, and writes may resume meanwhile: it does not hold level 0 to
// itself, so level0Loop compacts the runs flushed since and writers do not
// stall behind it (runWholeFoldLocked).
//
// Space. The runs above the last level may hold old versions of keys the
// last level holds too: after a burst of overwrites, up to a quarter of
// the tree (a third of the last level, with lazy leveling and T = 4) is
// data no read can see, and a database read too little to pay for the
// fold keeps it on disk for good. So once writes have stopped for
// quietAfter, the whole fold also runs with no reads paying for it when
// the runs above hold at least a tenth of the last level's bytes or
// entries (lsm.FoldFreesSpace): the disk then holds about the live data,
// at a cost no higher than a T = 10 leveled tree's at its last level. A
// smaller top is left to the readers, as before. Close cancels a whole
// fold that is running with much left to do, and a fold for space that
// failed waits for new writes (runWholeFoldLocked).

// readSeekBytes is the compaction input that one excess-run positioning pays for.
const readSeekBytes = 16 << 10

// getsPerPositioning is how many point lookups over E excess runs count
// as one positioning (E): a lookup pays an extra run one filter probe,
// about a sixth of what positioning a cursor in it costs a seek. Eight
// errs toward folding later.
const getsPerPositioning = 8

// readDebt is what readers owe the extra runs and levels since the last
// fold of each.
type readDebt struct {
	// runs counts excess-run positionings; levels counts positionings of
	// the levels beyond the first (lsm.Picker.PickLevelsForReads).
	runs, levels readAccount
	// levelsSeq is the last seqnum assigned when the levels account last
	// started from zero: a level fold runs only if no write came after.
	// Guarded by DB.mu.
	levelsSeq base.SeqNum
	// lookSeq is the last seqnum assigned when the compaction goroutine
	// last looked for a fold and wroteAt when it first saw it; deferred
	// says a look put off a piece fold to see whether writes have stopped,
	// and timer wakes the goroutine to look again (see
	// readCompactionLocked). Guarded by DB.mu.
	lookSeq  base.SeqNum
	wroteAt  time.Time
	deferred bool
	timer    *time.Timer
	// foldBase is the sum of both accounts' debts when the whole-tree
	// fold's account last started (at the last fold of any kind): what
	// readers paid since is that sum's excess over it. Guarded by DB.mu.
	foldBase int64
	// spaceFailed says a fold for space failed when spaceFailedAt was the
	// last seqnum: none runs again before a write (runWholeFoldLocked).
	// Guarded by DB.mu.
	spaceFailed   bool
	spaceFailedAt base.SeqNum
}

// foldDebt returns what readers paid toward the whole-tree fold: both
// accounts' debts since restartFold. DB.mu is held.
func (r *readDebt) foldDebt() int64 {
	return r.runs.debt.Load() + r.levels.debt.Load() - r.foldBase
}

// restartFold starts the whole-tree fold's account from zero after a piece
// fold, which may have reset either account. DB.mu is held.
func (r *readDebt) restartFold() {
	r.foldBase = r.runs.debt.Load() + r.levels.debt.Load()
}

// claimFold is claim for the whole-tree fold, which removes both the
// excess runs and the extra levels, so both accounts pay for it: it
// reports whether what they paid since restartFold covers need, and if so
// starts all accounts from zero. When it does not, it arms both accounts'
// wake-ups at half of what is missing: either may take all of it, or
// both share it, so the goroutine looks again no later than the sum
// covers need, and at most a few times before (each early look halves
// what is missing). DB.mu is held.
func (r *readDebt) claimFold(need int64) bool {
	if rest := need - r.foldDebt(); rest > 0 {
		half := (rest + 1) / 2
		r.runs.wake.Store(r.runs.debt.Load() + half)
		r.levels.wake.Store(r.levels.debt.Load() + half)
		// As in claim: look again after arming.
		if r.foldDebt() < need {
			return false
		}
	}
	r.startOver()
	return true
}

// startOver starts all accounts from zero and disarms their wake-ups, for
// a whole-tree fold about to run. DB.mu is held.
func (r *readDebt) startOver() {
	r.runs.wake.Store(math.MaxInt64)
	r.levels.wake.Store(math.MaxInt64)
	r.runs.debt.Store(0)
	r.levels.debt.Store(0)
	r.foldBase = 0
}

// readAccount counts positionings toward one kind of fold.
type readAccount struct {
	// debt counts positionings since the last fold.
	debt atomic.Int64
	// wake is the debt at which a reader wakes the compaction goroutine; the
	// goroutine sets it while it waits (MaxInt64: no fold to wait for).
	wake atomic.Int64
}

// add adds n to the debt and reports whether the caller should wake the
// compaction goroutine: the debt reached the armed threshold, which add then
// disarms, so only one reader wakes it.
func (a *readAccount) add(n int) bool {
	if a.debt.Add(int64(n)) < a.wake.Load() {
		return false
	}
	w := a.wake.Load()
	return w != math.MaxInt64 && a.wake.CompareAndSwap(w, math.MaxInt64)
}

// claim reports whether the debt covers need positionings, and if so
// starts it again from zero for the fold the caller is about to run. When
// it does not, it arms the readers' wake-up at need. DB.mu is held.
func (a *readAccount) claim(need int64) bool {
	if a.debt.Load() < need {
		a.wake.Store(need)
		// A reader that added to the debt before the store saw the old
		// threshold and did not wake us: look again.
		if a.debt.Load() < need {
			return false
		}
	}
	a.wake.Store(math.MaxInt64)
	a.debt.Store(0)
	return true
}

// foldCost is the number of positionings that pay for compaction c.
func foldCost(c *lsm.Compaction) int64 {
	return int64(c.InputBytes()/readSeekBytes) + 1
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

// extraLevels returns the non-empty levels of v from 1 down beyond the
// first.
func extraLevels(v *lsm.Version) int {
	n := 0
	for _, runs := range v.Levels[1:] {
		if len(runs) > 0 {
			n++
		}
	}
	return max(0, n-1)
}

// noteReadRuns charges one positioning over excess excess runs and levels
// extra levels, and wakes the compaction goroutine when that pays for a fold it
// waits on.
func (d *DB) noteReadRuns(excess, levels int) {
	wake := false
	if excess > 0 && d.reads.runs.add(excess) {
		wake = true
	}
	if levels > 0 && d.reads.levels.add(levels) {
		wake = true
	}
	if wake {
		d.mu.Lock()
		d.bgCond.Broadcast()
		d.mu.Unlock()
	}
}

// compactionKind says why the compaction goroutine runs a compaction.
type compactionKind int

const (
	// ordinaryCompaction is any but a whole-tree fold: due by the tree's
	// shape, or a piece fold the readers paid for.
	ordinaryCompaction compactionKind = iota
	// readFold is the whole tree's fold, paid for by the readers.
	readFold
	// spaceFold is the whole tree's fold, for the space it frees.
	spaceFold
)

// readCompactionLocked returns the fold the readers have paid for or that
// frees space, or nil; when there is a fold to wait for, it arms the
// readers' wake-up. With skip0 it leaves level 0 alone (level0Loop has
// it). kind says which fold it is (run whole folds with
// runWholeFoldLocked). d.mu is held.
//
// Once writes have stopped for quietAfter it folds the whole tree at once
// (lsm.Picker.PickFold), when the readers have paid for all of it or the
// fold frees space (lsm.FoldFreesSpace); while
// writes go on it folds a piece at a time (pieceFoldLocked). Readers pay
// into the same accounts for both, from the last fold of either kind on.
// The goroutine sees writes at its looks, as a change of the last seqnum.
// A look that sees writes for the first time since a piece fold or a look
// that found them stopped puts off the piece fold it would run: it looks
// again quietAfter later, and folds the piece then if more writes came in,
// or the whole tree once the readers have paid for it if none did.
func (d *DB) readCompactionLocked(skip0 bool) (c *lsm.Compaction, kind compactionKind) {
	if d.opts.Experimental.NoReadCompactions {
		return nil, ordinaryCompaction
	}
	r := &d.reads
	now := time.Now()
	wrote := r.lookSeq != d.mu.lastSeq
	if wrote {
		r.lookSeq, r.wroteAt = d.mu.lastSeq, now
	}
	if fold := d.picker.PickFold(d.mu.version, skip0); fold != nil {
		if quiet := now.Sub(r.wroteAt); quiet >= d.opts.quietAfter {
			r.deferred = false
			failedBefore := r.spaceFailed && r.spaceFailedAt == d.mu.lastSeq
			if !d.opts.noSpaceFolds && !failedBefore && lsm.FoldFreesSpace(d.mu.version, fold) {
				r.startOver()
				r.spaceFailed = false
				fold.Reason = "space: " + fold.Reason
				return fold, spaceFold
			}
			if !r.claimFold(foldCost(fold)) {
				return nil, ordinaryCompaction
			}
			d.mu.stats.readCompactions++
			return fold, readFold
		} else if !wrote || !r.deferred {
			// Writes may have stopped: wait to see.
			r.deferred = true
			r.runs.wake.Store(math.MaxInt64)
			r.levels.wake.Store(math.MaxInt64)
			d.lookAgainLocked(d.opts.quietAfter - quiet)
			return nil, ordinaryCompaction
		}
	}
	r.deferred = false
	c = d.pieceFoldLocked(skip0)
	r.restartFold() // the piece fold may have reset either account
	return c, ordinaryCompaction
}

// defaultQuietAfter is how long writes must have stopped before reads fold
// the whole tree at once rather than a piece at a time
// (Options.quietAfter).
const defaultQuietAfter = 200 * time.Millisecond

// lookAgainLocked has the compaction goroutine look for work again after
// wait. d.mu is held.
func (d *DB) lookAgainLocked(wait time.Duration) {
	if d.reads.timer == nil {
		d.reads.timer = time.AfterFunc(wait, func() {
			d.mu.Lock()
			d.bgCond.Broadcast()
			d.mu.Unlock()
		})
		return
	}
	d.reads.timer.Reset(wait)
}

// pieceFoldLocked returns the fold of a piece of the tree the readers have
// paid for: level 0's runs, or one level's runs (lsm.Picker.PickForReads),
// or one level into the next (lsm.Picker.PickLevelsForReads). d.mu is
// held.
func (d *DB) pieceFoldLocked(skip0 bool) *lsm.Compaction {
	if c := d.picker.PickForReads(d.mu.version, skip0); c != nil {
		d.reads.levels.wake.Store(math.MaxInt64)
		if !d.reads.runs.claim(foldCost(c)) {
			return nil
		}
		d.mu.stats.readCompactions++
		return c
	}
	d.reads.runs.wake.Store(math.MaxInt64)
	c := d.picker.PickLevelsForReads(d.mu.version)
	if c == nil {
		d.reads.levels.wake.Store(math.MaxInt64)
		return nil
	}
	if d.reads.levelsSeq != d.mu.lastSeq {
		// Writes came in while the readers paid: start again from now.
		d.reads.levels.debt.Store(0)
		d.reads.levelsSeq = d.mu.lastSeq
	}
	if !d.reads.levels.claim(foldCost(c)) {
		return nil
	}
	d.mu.stats.readCompactions++
	return c
}
