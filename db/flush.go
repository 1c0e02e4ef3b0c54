package db

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/memtable"
)

// Flush writes the memtable to an SST and waits until it, and every
// memtable queued before it, is durable in the tree. After Flush returns,
// every earlier write survives a crash whatever SyncWrites says.
func (d *DB) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return ErrClosed
	}
	if d.opts.ReadOnly {
		if d.mu.mem.Empty() {
			return nil
		}
		return ErrReadOnly
	}
	if d.mu.writeErr != nil {
		return d.mu.writeErr
	}
	// Take a place in the commit queue, as a barrier: once it leads, every
	// write queued before it is in mem, and no other commits until it
	// leaves. Waiting for the queue to drain instead could wait forever
	// under a steady stream of writers.
	barrier := &writer{}
	barrier.cond.L = &d.mu
	d.enterQueueLocked(barrier)
	d.mu.Unlock()
	d.lockCommit()
	d.mu.Lock()
	var err error
	switch {
	case d.mu.writeErr != nil:
		err = d.mu.writeErr
	case !d.mu.mem.Empty():
		// Close waits for the queue to drain before it closes the WAL, so
		// the log is still open here.
		if rerr := d.rotateMemtableLocked(); rerr != nil {
			err = d.stopWritesLocked(rerr)
		}
	}
	d.leaveQueueLocked(1)
	d.commitMu.Unlock()
	if err != nil {
		return err
	}
	target := len(d.mu.imms)
	if target == 0 {
		return nil
	}
	last := d.mu.imms[target-1]
	failures := d.mu.stats.flushFailures
	for {
		if d.mu.writeErr != nil {
			return d.mu.writeErr
		}
		if d.mu.stats.flushFailures > failures {
			// The WAL holds the memtable safely and the flush is retried
			// in the background; the caller hears of the failure now.
			return fmt.Errorf("strata: flush: %w", d.mu.lastFlushErr)
		}
		pending := false
		for _, f := range d.mu.imms {
			if f == last {
				pending = true
			}
		}
		if !pending {
			return nil
		}
		if d.mu.closed {
			return ErrClosed
		}
		d.bgCond.Wait()
	}
}

// flushOldestLocked writes the oldest immutable memtable to a level-0 SST
// and installs it. d.mu is held on entry and exit, released for the I/O.
func (d *DB) flushOldestLocked() error {
	imm := d.mu.imms[0]
	nextLog := d.mu.logNum
	if len(d.mu.imms) > 1 {
		nextLog = d.mu.imms[1].logNum
	}
	d.mu.Unlock()
	meta, err := d.writeL0(imm.mem)
	d.mu.Lock()
	if err != nil {
		return err
	}
	d.failpoint(fpFlushSynced)
	edit := &manifest.VersionEdit{LogNum: nextLog, LastSeq: d.mu.lastSeq, NextFileNum: d.mu.nextFileNum}
	if meta != nil {
		edit.NewFiles = []manifest.NewFile{{Level: 0, Meta: *meta}}
		d.mu.stats.bytesFlushed += meta.Size
	}
	d.mu.stats.memBytesFlushed += uint64(imm.mem.ApproximateSize())
	install := func() {
		d.mu.imms = d.mu.imms[1:]
		d.mu.flushedSeq = imm.lastSeq
	}
	if err := d.logAndApplyLocked(edit, install); err != nil {
		return err
	}
	d.mu.stats.flushes++
	// The flushed memtable leaves the database; readers still holding it
	// keep their references. Its WAL is obsolete.
	imm.mem.Unref()
	d.mu.Unlock()
	if imm.seal != nil {
		imm.seal.drop(meta != nil) // or wait for its seal, which may be writing to it
	}
	d.fs.Remove(d.path(base.MakeFilename(base.FileTypeLog, imm.logNum)))
	d.mu.Lock()
	return nil
}

// writeL0 writes every entry of mem into one new SST as its own run, syncs
// it and its directory, and returns its metadata; nil if mem had nothing to
// write.
func (d *DB) writeL0(mem *memtable.Memtable) (*manifest.FileMeta, error) {
	it := mem.NewIter()
	defer it.Close()
	out := newRunWriter(d, 0, false)
	out.bloomBits = d.bloomBits(nil, 0)
	out.frags = rangedel.Fragments(appendMemTombstones(nil, mem), base.MaxSeqNum)
	for ok := it.First(); ok; ok = it.Next() {
		if err := out.add(it.Key(), it.Value()); err != nil {
			out.abort()
			return nil, err
		}
	}
	if err := it.Error(); err != nil {
		out.abort()
		return nil, err
	}
	metas, err := out.finish()
	if err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return nil, nil
	}
	return &metas[0], nil
}
