package db

import (
	"errors"
	"fmt"
	"time"

	"github.com/seed-d6fe07da/strata/lsm"
)

// maybeScheduleBackgroundLocked wakes the background goroutines if there
// is a memtable to flush or a compaction to run.
func (d *DB) maybeScheduleBackgroundLocked() { d.bgCond.Broadcast() }

// flushLoop writes immutable memtables to level 0 until Close. It runs
// beside compactLoop so a long compaction never delays a flush (and so never
// stalls writers on memtable space).
func (d *DB) flushLoop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	failures := 0 // in a row, for the back-off
	for {
		if d.mu.closed && len(d.mu.writers) == 0 && d.mu.committing == 0 {
			return
		}
		if d.mu.bgErr == nil && len(d.mu.imms) > 0 {
			d.mu.flushing = true
			err := d.flushOldestLocked()
			d.mu.flushing = false
			if err != nil {
				d.mu.stats.flushFailures++
				d.mu.lastFlushErr = err
				d.bgCond.Broadcast() // Flush callers learn of it
				if !d.backgroundFailedLocked(err) {
					failures++
					d.waitBeforeRetryLocked(failures)
				}
			} else {
				failures = 0
			}
			d.bgCond.Broadcast()
			continue
		}
		d.bgCond.Wait()
	}
}

// compactLoop runs compactions, automatic ones as the picker chooses them and
// manual ones that Compact asks for, until Close. Compactions of level 0 that
// read level 0 alone run on level0Loop instead, so a long compaction deeper in
// the tree does not leave level 0 to pile up (and writers to slow down)
// behind it.
func (d *DB) compactLoop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.mu.closed {
			for _, req := range d.mu.manualReqs {
				req.done <- ErrClosed
			}
			d.mu.manualReqs = nil
			return
		}
		if d.mu.ingesting > 0 {
			d.bgCond.Wait() // Ingest places tables by the levels as they are
			continue
		}
		if len(d.mu.manualReqs) > 0 && !d.mu.level0Exclusive {
			req := d.mu.manualReqs[0]
			d.mu.manualReqs = d.mu.manualReqs[1:]
			var err error
			if d.mu.bgErr != nil {
				err = d.mu.bgErr
			} else if c := d.picker.PickManual(d.mu.version, req.start, req.end); c != nil {
				c.Reason = "manual"
				// A manual compaction may read level 0 or write a new run to
				// level 1: it holds level 0 for its whole length. Its
				// caller hears of a failure at once, with no back-off.
				if err = d.runCompactionLocked(c, &d.mu.compacting, true, nil); err != nil {
					d.backgroundFailedLocked(err)
				}
			}
			req.done <- err
			d.bgCond.Broadcast()
			continue
		}
		if d.mu.bgErr == nil && len(d.mu.manualReqs) == 0 {
			d.picker.SetBaseLevelSize(d.baseLevelSizeLocked())
			// Leave level 0 to level0Loop when it is compacting or would.
			skip0 := d.mu.level0Exclusive || d.picker.PickLevel0(d.mu.version) != nil
			var c *lsm.Compaction
			if skip0 {
				c = d.picker.PickBelowLevel0(d.mu.version)
			} else {
				c = d.picker.Pick(d.mu.version)
			}
			kind := ordinaryCompaction
			if c == nil {
				c, kind = d.readCompactionLocked(skip0)
			}
			if c != nil {
				if kind != ordinaryCompaction {
					d.runWholeFoldLocked(c, kind)
				} else {
					d.runAutomaticCompactionLocked(c, &d.mu.compacting, writesLevel0(c))
				}
				d.bgCond.Broadcast()
				continue
			}
		}
		d.bgCond.Wait()
	}
}

// level0Loop runs the compactions lsm.Picker.PickLevel0 finds, beside
// compactLoop's, until Close.
func (d *DB) level0Loop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.mu.closed {
		if d.mu.bgErr == nil && !d.mu.level0Exclusive && d.mu.ingesting == 0 {
			v := d.mu.version
			if d.mu.foldingLevel0 != 0 {
				v = v.WithoutLevel0Upto(d.mu.foldingLevel0)
			}
			if c := d.picker.PickLevel0(v); c != nil {
				d.runAutomaticCompactionLocked(c, &d.mu.compactingLevel0, true)
				d.bgCond.Broadcast()
				continue
			}
		}
		d.bgCond.Wait()
	}
}

// runWholeFoldLocked runs c, a fold of the whole tree into its last level
// (readCompactionLocked), without holding level 0 to itself, though it may
// read level-0 runs: it can take many seconds, and writes that resume
// meanwhile would stall once level 0 filled up. level0Loop goes on
// instead with the runs flushed since c was picked, whose ids are larger
// than those of c's level-0 runs: they hold newer data, so moving them
// into a new run at level 1, above the runs c reads there, keeps every
// key's versions in order, and c's output joins the last level's run,
// beneath. (If level 1 is the last level, PickLevel0 would join its run,
// which c reads, and so picks nothing.) d.mu is held.
//
// The fold is work no write waits for, and it can take as long as
// rewriting the database: Close cancels it (its output files are removed;
// the next quiet spell starts it again), unless it has less than
// defaultCloseFinishBytes left to read, about a second or two of work: a
// process that writes a burst and closes soon after then leaves a compact
// database, and Close still never waits for a large rewrite. A fold for
// space that fails is not tried again before new writes come in
// (readCompactionLocked): it may need as much free disk as the last
// level, and failing with a full disk every few seconds would starve the
// flushes. kind says why it runs.
func (d *DB) runWholeFoldLocked(c *lsm.Compaction, kind compactionKind) {
	for _, in := range c.Inputs {
		if in.Level == 0 {
			d.mu.foldingLevel0 = max(d.mu.foldingLevel0, in.RunID())
		}
	}
	err := d.runCompactionLocked(c, &d.mu.compacting, false, d.closeCh)
	d.mu.foldingLevel0 = 0
	switch {
	case err == nil:
		d.mu.compactionFailures = 0
		if kind == spaceFold {
			d.mu.stats.spaceCompactions++
		}
	case errors.Is(err, errCompactionCanceled):
	default:
		if kind == spaceFold {
			d.reads.spaceFailedAt, d.reads.spaceFailed = d.mu.lastSeq, true
		}
		if !d.backgroundFailedLocked(err) {
			d.mu.compactionFailures++
			d.waitBeforeRetryLocked(d.mu.compactionFailures)
		}
	}
}

// defaultCloseFinishBytes is how much input a whole fold may have left to
// read when Close begins and still finish (Options.closeFinishBytes).
const defaultCloseFinishBytes = 256 << 20

// writesLevel0 reports whether compaction c needs level 0 to itself: it reads
// level 0, or it writes a new run to level 1, which must sort behind any
// run a level-0 compaction adds there meanwhile.
func writesLevel0(c *lsm.Compaction) bool {
	for _, in := range c.Inputs {
		if in.Level == 0 {
			return true
		}
	}
	return c.OutputLevel <= 1 && c.OutputRunID == 0
}

// runCompactionLocked runs compaction c with *busy set for its length, and with
// d.mu.level0Exclusive set too when holdLevel0. d.mu is held.
func (d *DB) runCompactionLocked(c *lsm.Compaction, busy *bool, holdLevel0 bool, cancel <-chan struct{}) error {
	*busy = true
	if holdLevel0 {
		d.mu.level0Exclusive = true
	}
	err := d.compactLocked(c, cancel)
	*busy = false
	if holdLevel0 {
		d.mu.level0Exclusive = false
	}
	return err
}

// runAutomaticCompactionLocked runs a compaction the picker chose; after a failure
// that may pass it waits before the picker chooses again (most likely the
// same compaction). d.mu is held.
func (d *DB) runAutomaticCompactionLocked(c *lsm.Compaction, busy *bool, holdLevel0 bool) {
	err := d.runCompactionLocked(c, busy, holdLevel0, nil)
	if err == nil {
		d.mu.compactionFailures = 0
		return
	}
	if !d.backgroundFailedLocked(err) {
		d.mu.compactionFailures++
		d.waitBeforeRetryLocked(d.mu.compactionFailures)
	}
}

// Retries of failed background work wait retryMinWait after the first
// failure in a row, twice as long after each next one, up to retryMaxWait.
const (
	retryMinWait = 10 * time.Millisecond
	retryMaxWait = 5 * time.Second
	// retryStalledWait bounds the wait while writers are stalled.
	retryStalledWait = 50 * time.Millisecond
)

// backgroundFailedLocked records a failed flush or compaction and reports
// whether it stopped writes. A failed flush or compaction changed nothing
// durable (its files are removed, or kept until a new manifest no longer
// might name them): a full disk or an I/O error may pass, so the job is
// retried after a back-off while reads go on and writes fill the memtables
// that wait for a flush. Corruption of an input file cannot pass, and an
// edit the tree rejects is a bug: those stop writes. d.mu is held.
func (d *DB) backgroundFailedLocked(err error) (stopped bool) {
	d.mu.stats.backgroundErrors++
	d.mu.lastBackgroundErr = err
	if errors.Is(err, ErrCorruption) || errors.Is(err, errEditRejected) || errors.Is(err, lsm.ErrMergeOperator) {
		d.setBackgroundErrorLocked(err)
		return true
	}
	return false
}

// waitBeforeRetryLocked waits before the retry that follows the failures-th
// failure in a row, releasing d.mu meanwhile. Close cuts the wait short,
// and so does a writer that starts to stall (kickRetriesLocked): the disk
// may have recovered, and a writer should not wait out a long back-off to
// find out.
func (d *DB) waitBeforeRetryLocked(failures int) {
	wait := retryMinWait << min(failures-1, 16)
	if wait > retryMaxWait {
		wait = retryMaxWait
	}
	if d.mu.stalledWriters > 0 {
		// Writers wait for this job: retry often, so that they go on
		// soon after the disk recovers (a writer's kick ends only the
		// back-off under way when it starts to stall).
		wait = min(wait, retryStalledWait)
	}
	kick := d.mu.retryKick
	d.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-d.closeCh:
		t.Stop()
	case <-kick:
		t.Stop()
	}
	d.mu.Lock()
}

// kickRetriesLocked ends the back-off of every background job waiting to
// retry. d.mu is held.
func (d *DB) kickRetriesLocked() {
	close(d.mu.retryKick)
	d.mu.retryKick = make(chan struct{})
}

// setBackgroundErrorLocked stops background work and writes. d.mu is held.
func (d *DB) setBackgroundErrorLocked(err error) {
	d.mu.bgErr = err
	if d.mu.writeErr == nil {
		d.mu.writeErr = fmt.Errorf("%w: background: %v", ErrWritesStopped, err)
	}
}

// baseLevelSizeLocked returns the picker's capacity unit B (level i holds
// (T-1)·T^(i-1)·B): the SST bytes that L0CompactionTrigger full memtables
// flush to. Compression and the format's overhead make that differ from
// the memtable bytes, by the ratio this process's flushes measured (before
// the first full memtable's worth, the ratio is taken as 1). Sizing the
// levels by memtable bytes instead let compressed data that needed two
// levels fit in level 1, so every level-0 compaction rewrote the whole tree.
// d.mu is held.
func (d *DB) baseLevelSizeLocked() uint64 {
	b := d.pickerOpts.BaseLevelSize
	s := &d.mu.stats
	if s.memBytesFlushed < uint64(d.opts.MemtableSize) || s.bytesFlushed == 0 {
		return b
	}
	ratio := float64(s.bytesFlushed) / float64(s.memBytesFlushed)
	return uint64(float64(b) * min(max(ratio, 1.0/32), 4))
}
