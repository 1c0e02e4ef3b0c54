package db

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/merge"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
)

// compactLocked runs merge c: it streams the input runs through a heap
// merge, writes the surviving entries as one new run of files at the output
// level, and installs the result with one manifest edit. The inputs are
// deleted when the last version naming them is released. d.mu is held on
// entry and exit, released for the I/O.
func (d *DB) compactLocked(c *lsm.Compaction) error {
	snapshots := d.snapshotSeqsLocked()
	// Every reader from now on reads at or above this seqnum.
	oldestRead := base.SeqNum(d.visibleSeq.Load())
	var metas []manifest.FileMeta
	var bytesIn uint64
	var err error
	if c.TrivialMove {
		// Move the files' metadata down a level without rewriting them.
		for _, in := range c.Inputs {
			for _, f := range in.Files {
				metas = append(metas, f.FileMeta)
			}
		}
	} else {
		d.mu.Unlock()
		metas, bytesIn, err = d.runCompaction(c, snapshots, oldestRead)
		d.mu.Lock()
		if err != nil {
			return err
		}
		d.failpoint(fpCompactSynced)
	}
	runID := c.OutputRunID
	if runID == 0 {
		runID = uint64(d.nextFileNum)
		d.nextFileNum++
	}
	for i := range metas {
		metas[i].Run = runID
	}
	edit := &manifest.VersionEdit{NextFileNum: d.nextFileNum}
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			edit.DeletedFiles = append(edit.DeletedFiles, manifest.DeletedFile{Level: in.Level, FileNum: f.FileNum})
		}
	}
	var bytesOut uint64
	for _, m := range metas {
		edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: c.OutputLevel, Meta: m})
		if !c.TrivialMove {
			bytesOut += m.Size // a moved file is not rewritten
		}
	}
	if err := d.logAndApplyLocked(edit, nil); err != nil {
		return err
	}
	d.stats.compactions++
	if c.TrivialMove {
		d.stats.trivialMoves++
	}
	d.stats.compactBytesIn += bytesIn
	d.stats.compactBytesOut += bytesOut
	return nil
}

func (d *DB) runCompaction(c *lsm.Compaction, snapshots []base.SeqNum, oldestRead base.SeqNum) ([]manifest.FileMeta, uint64, error) {
	var children []base.InternalIterator
	var tombs []rangedel.Tombstone
	for _, in := range c.Inputs {
		children = append(children, newRunIter(d.tables, &lsm.Run{ID: in.RunID, Files: in.Files}))
		for _, f := range in.Files {
			e, err := d.tables.entry(f.FileNum)
			if err != nil {
				return nil, 0, fmt.Errorf("compaction: %w", err)
			}
			tombs = rangedel.AppendTombstones(tombs, e.rangeDels)
		}
	}
	bytesIn := c.InputBytes()
	mi := merge.NewIterator(children...)
	defer mi.Close()
	ci := lsm.NewCompactionIter(mi, snapshots, c.Bottommost)
	ci.ZeroSeqNums(oldestRead)
	ci.SetRangeDels(rangedel.NewSet(tombs, base.MaxSeqNum))
	out := newRunWriter(d, d.opts.TargetFileSize, true)
	out.frags = ci.OutputRangeDels()
	out.bloomBits = d.bloomBitsForLevel(c.OutputLevel)
	for ci.Next() {
		var err error
		if block, ok := ci.StoredValue(); ok {
			err = out.addCompressed(ci.Key(), block)
		} else {
			err = out.add(ci.Key(), ci.Value(), false)
		}
		if err != nil {
			out.abort()
			return nil, 0, fmt.Errorf("compaction: %w", err)
		}
	}
	if err := ci.Error(); err != nil {
		out.abort()
		return nil, 0, fmt.Errorf("compaction: %w", err)
	}
	metas, err := out.finish()
	if err != nil {
		return nil, 0, fmt.Errorf("compaction: %w", err)
	}
	return metas, bytesIn, nil
}

// manualCompaction is a request from Compact to the compaction goroutine.
type manualCompaction struct {
	start, end []byte
	done       chan error
}

// Compact flushes the memtable and merges every file overlapping [start,
// end] (nil bounds are unbounded), together with the files overlapping
// those, into the last level: afterwards the range holds one version of
// each live key and no tombstones that no snapshot needs. It waits for the
// merge.
func (d *DB) Compact(start, end []byte) error {
	if err := d.Flush(); err != nil {
		return err
	}
	req := &manualCompaction{start: clone(start), end: clone(end), done: make(chan error, 1)}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.manualReqs = append(d.manualReqs, req)
	d.bgCond.Broadcast()
	d.mu.Unlock()
	return <-req.done
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
