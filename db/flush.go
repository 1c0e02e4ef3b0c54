package db

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/memtable"
	"github.com/seed-d6fe07da/strata/sst"
)

// Flush writes the memtable to an SST and waits until it, and every
// memtable queued before it, is durable in the tree. After Flush returns,
// every earlier write survives a crash whatever SyncWrites says.
func (d *DB) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.writeErr != nil {
		return d.writeErr
	}
	// Take a place in the commit queue, as a barrier: once it leads, every
	// write queued before it is in mem, and no other commits until it
	// leaves. Waiting for the queue to drain instead could wait forever
	// under a steady stream of writers.
	barrier := &writer{}
	barrier.cond.L = &d.mu
	d.enterQueueLocked(barrier)
	var err error
	switch {
	case d.writeErr != nil:
		err = d.writeErr
	case !d.mem.Empty():
		// Close waits for the queue to drain before it closes the WAL, so
		// the log is still open here.
		if rerr := d.rotateMemtableLocked(); rerr != nil {
			d.writeErr = fmt.Errorf("%w: %v", ErrWritesStopped, rerr)
			err = d.writeErr
		}
	}
	d.leaveQueueLocked(1)
	if err != nil {
		return err
	}
	target := len(d.imms)
	if target == 0 {
		return nil
	}
	last := d.imms[target-1]
	for {
		if d.writeErr != nil {
			return d.writeErr
		}
		pending := false
		for _, f := range d.imms {
			if f == last {
				pending = true
			}
		}
		if !pending {
			return nil
		}
		if d.closed {
			return ErrClosed
		}
		d.bgCond.Wait()
	}
}

// maybeScheduleBackgroundLocked wakes the background goroutines if there
// is a memtable to flush or a merge to run.
func (d *DB) maybeScheduleBackgroundLocked() { d.bgCond.Broadcast() }

// flushLoop writes immutable memtables to level 0 until Close. It runs
// beside compactLoop so a long merge never delays a flush (and so never
// stalls writers on memtable space).
func (d *DB) flushLoop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.closed && len(d.writers) == 0 {
			return
		}
		if d.bgErr == nil && len(d.imms) > 0 {
			d.flushing = true
			err := d.flushOldestLocked()
			d.flushing = false
			if err != nil {
				d.setBackgroundErrorLocked(err)
			}
			d.bgCond.Broadcast()
			continue
		}
		d.bgCond.Wait()
	}
}

// compactLoop runs merges, automatic ones as the picker chooses them and
// manual ones that Compact asks for, until Close. Merges of level 0 that
// read level 0 alone run on level0Loop instead, so a long merge deeper in
// the tree does not leave level 0 to pile up (and writers to slow down)
// behind it.
func (d *DB) compactLoop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.closed {
			for _, req := range d.manualReqs {
				req.done <- ErrClosed
			}
			d.manualReqs = nil
			return
		}
		if len(d.manualReqs) > 0 && !d.level0Merging {
			req := d.manualReqs[0]
			d.manualReqs = d.manualReqs[1:]
			var err error
			if d.bgErr != nil {
				err = d.bgErr
			} else if c := d.picker.PickManual(d.version, req.start, req.end); c != nil {
				c.Reason = "manual"
				// A manual merge may read level 0 or write a new run to
				// level 1: it holds level 0 for its whole length.
				err = d.runMergeLocked(c, &d.compacting, true)
			}
			req.done <- err
			d.bgCond.Broadcast()
			continue
		}
		if d.bgErr == nil && len(d.manualReqs) == 0 {
			d.picker.SetBaseLevelSize(d.baseLevelSizeLocked())
			// Leave level 0 to level0Loop when it is merging or would.
			skip0 := d.level0Merging || d.picker.PickLevel0(d.version) != nil
			var c *lsm.Compaction
			if skip0 {
				c = d.picker.PickBelowLevel0(d.version)
			} else {
				c = d.picker.Pick(d.version)
			}
			if c == nil {
				c = d.readMergeLocked(skip0)
			}
			if c != nil {
				d.runMergeLocked(c, &d.compacting, writesLevel0(c))
				d.bgCond.Broadcast()
				continue
			}
		}
		d.bgCond.Wait()
	}
}

// level0Loop runs the merges lsm.Picker.PickLevel0 finds, beside
// compactLoop's, until Close.
func (d *DB) level0Loop() {
	defer d.bgWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.closed {
		if d.bgErr == nil && !d.level0Merging {
			if c := d.picker.PickLevel0(d.version); c != nil {
				d.runMergeLocked(c, &d.compactingLevel0, true)
				d.bgCond.Broadcast()
				continue
			}
		}
		d.bgCond.Wait()
	}
}

// writesLevel0 reports whether merge c needs level 0 to itself: it reads
// level 0, or it writes a new run to level 1, which must sort behind any
// run a level-0 merge adds there meanwhile.
func writesLevel0(c *lsm.Compaction) bool {
	for _, in := range c.Inputs {
		if in.Level == 0 {
			return true
		}
	}
	return c.OutputLevel <= 1 && c.OutputRunID == 0
}

// runMergeLocked runs merge c with *busy set for its length, and with
// d.level0Merging set too when holdLevel0. A merge that found the buffer
// pool exhausted by readers left the tree as it was: it is retried after a
// pause. Any other error stops background work. d.mu is held.
func (d *DB) runMergeLocked(c *lsm.Compaction, busy *bool, holdLevel0 bool) error {
	*busy = true
	if holdLevel0 {
		d.level0Merging = true
	}
	err := d.compactLocked(c)
	*busy = false
	if holdLevel0 {
		d.level0Merging = false
	}
	switch {
	case errors.Is(err, cache.ErrAllPinned):
		// Readers hold every frame of the buffer pool: back off.
		d.stats.compactionRetries++
		d.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		d.mu.Lock()
	case err != nil:
		d.setBackgroundErrorLocked(err)
	}
	return err
}

func (d *DB) setBackgroundErrorLocked(err error) {
	d.bgErr = err
	if d.writeErr == nil {
		d.writeErr = fmt.Errorf("%w: background: %v", ErrWritesStopped, err)
	}
}

// baseLevelSizeLocked returns the picker's capacity unit B (level i holds
// (T-1)·T^(i-1)·B): the SST bytes that L0CompactionTrigger full memtables
// flush to. Compression and the format's overhead make that differ from
// the memtable bytes, by the ratio this process's flushes measured (before
// the first full memtable's worth, the ratio is taken as 1). Sizing the
// levels by memtable bytes instead let compressed data that needed two
// levels fit in level 1, so every level-0 merge rewrote the whole tree.
// d.mu is held.
func (d *DB) baseLevelSizeLocked() uint64 {
	b := d.pickerOpts.BaseLevelSize
	s := &d.stats
	if s.memBytesFlushed < uint64(d.opts.MemtableSize) || s.bytesFlushed == 0 {
		return b
	}
	ratio := float64(s.bytesFlushed) / float64(s.memBytesFlushed)
	return uint64(float64(b) * min(max(ratio, 1.0/32), 4))
}

// flushOldestLocked writes the oldest immutable memtable to a level-0 SST
// and installs it. d.mu is held on entry and exit, released for the I/O.
func (d *DB) flushOldestLocked() error {
	imm := d.imms[0]
	nextLog := d.logNum
	if len(d.imms) > 1 {
		nextLog = d.imms[1].logNum
	}
	d.mu.Unlock()
	start := time.Now()
	meta, err := d.writeL0(imm.mem)
	d.mu.Lock()
	if err != nil {
		return err
	}
	d.failpoint(fpFlushSynced)
	edit := &manifest.VersionEdit{LogNum: nextLog, LastSeq: d.lastSeq, NextFileNum: d.nextFileNum}
	if meta != nil {
		edit.NewFiles = []manifest.NewFile{{Level: 0, Meta: *meta}}
		d.stats.bytesFlushed += meta.Size
	}
	d.stats.memBytesFlushed += uint64(imm.mem.ApproximateSize())
	if err := d.logAndApplyLocked(edit, func() { d.imms = d.imms[1:] }); err != nil {
		return err
	}
	d.stats.flushes++
	_ = start
	// The flushed memtable's WAL is now obsolete.
	d.mu.Unlock()
	d.fs.Remove(d.path(base.MakeFilename(base.FileTypeLog, imm.logNum)))
	d.mu.Lock()
	return nil
}

// Failpoints: the steps at which crash tests kill the process.
const (
	fpFlushSynced     = "flush-synced"     // a flushed SST is durable, the manifest does not name it yet
	fpCompactSynced   = "compact-synced"   // merge outputs are durable, the manifest does not name them yet
	fpManifestFailed  = "manifest-failed"  // a manifest append failed (a torn record may be on disk)
	fpManifestApplied = "manifest-applied" // an edit is durable, obsolete files not yet deleted
	fpWALRotated      = "wal-rotated"      // a new WAL exists on disk, the old one is not closed yet
)

func (d *DB) failpoint(name string) {
	if d.opts.failpoint != nil {
		d.opts.failpoint(name)
	}
}

// logAndApplyLocked makes edit durable in the manifest, then installs the
// new version and read state; install runs under d.mu just before the swap
// (to drop a flushed memtable in the same step). d.mu is held on entry and
// exit and released for the manifest write.
func (d *DB) logAndApplyLocked(edit *manifest.VersionEdit, install func()) error {
	// versionMu orders manifest records and version installs the same way;
	// it is taken before mu.
	d.mu.Unlock()
	d.versionMu.Lock()
	defer d.versionMu.Unlock()
	err := d.manifest.Append(edit)
	d.mu.Lock()
	if err != nil {
		d.failpoint(fpManifestFailed)
		return fmt.Errorf("write manifest: %w", err)
	}
	d.failpoint(fpManifestApplied)
	nv, err := d.version.Apply(edit)
	if err != nil {
		return fmt.Errorf("apply edit: %w", err)
	}
	old := d.version
	d.version = nv
	if install != nil {
		install()
	}
	d.installReadStateLocked()
	d.mu.Unlock()
	old.Unref()
	d.mu.Lock()
	if d.manifest.Size() > d.opts.maxManifestSize {
		return d.rotateManifestLocked()
	}
	return nil
}

// rotateManifestLocked writes a new manifest holding one snapshot edit of
// the current state, points CURRENT at it and removes the old one. d.mu and
// versionMu are held; mu is released for the I/O.
func (d *DB) rotateManifestLocked() error {
	num := d.nextFileNum
	d.nextFileNum++
	snap := &manifest.VersionEdit{LogNum: d.logNum, NextFileNum: d.nextFileNum, LastSeq: d.lastSeq}
	if len(d.imms) > 0 {
		snap.LogNum = d.imms[0].logNum
	}
	for level, runs := range d.version.Levels {
		for _, r := range runs {
			for _, f := range r.Files {
				snap.NewFiles = append(snap.NewFiles, manifest.NewFile{Level: level, Meta: f.FileMeta})
			}
		}
	}
	d.mu.Unlock()
	w, err := manifest.Create(d.fs, d.dirname, num, snap)
	d.mu.Lock()
	if err != nil {
		return fmt.Errorf("rotate manifest: %w", err)
	}
	old := d.manifest
	d.manifest = w
	d.mu.Unlock()
	old.Close()
	d.fs.Remove(d.path(base.MakeFilename(base.FileTypeManifest, old.FileNum())))
	d.mu.Lock()
	return nil
}

// bloomBitsForLevel returns the filter bits per key for a new SST at
// level: Monkey's optimum for the tree's current shape, or the uniform
// setting.
func (d *DB) bloomBitsForLevel(level int) float64 {
	if d.opts.BloomBitsPerKey <= 0 {
		return 0
	}
	d.mu.Lock()
	v := d.version
	v.Ref()
	d.mu.Unlock()
	defer v.Unref()
	return lsm.BloomBitsForLevel(v, level, d.pickerOpts, d.opts.BloomBitsPerKey, d.opts.UniformBloom)
}

// allocFileNum hands out a new file number.
func (d *DB) allocFileNum() base.FileNum {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nextFileNum
	d.nextFileNum++
	return n
}

// writeL0 writes every entry of mem into one new SST as its own run, syncs
// it and its directory, and returns its metadata; nil if mem had nothing to
// write.
func (d *DB) writeL0(mem *memtable.Memtable) (*manifest.FileMeta, error) {
	it := mem.NewIter()
	defer it.Close()
	out := newRunWriter(d, 0, false)
	out.bloomBits = d.bloomBitsForLevel(0)
	out.frags = rangedel.Fragments(appendMemTombstones(nil, mem), base.MaxSeqNum)
	for ok := it.First(); ok; ok = it.Next() {
		if err := out.add(it.Key(), it.Value(), false); err != nil {
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

// runWriter writes a sorted stream of entries into one run of SST files,
// starting a new file past the target size but never between two versions
// of one user key (files of a run have disjoint user-key ranges).
type runWriter struct {
	d       *DB
	target  int64
	split   bool
	runID   uint64
	w       *sst.Writer
	cur     manifest.FileMeta
	metas   []manifest.FileMeta
	created []base.FileNum
	lastKey []byte
	closers []func() error
	// frags are the range tombstones to write, clipped to each file's
	// share of the key space: [lo, first key of the next file).
	frags []rangedel.Fragment
	lo    []byte
	// bloomBits is the filter memory per key of the files written.
	bloomBits float64
}

func newRunWriter(d *DB, target int64, split bool) *runWriter {
	return &runWriter{d: d, target: target, split: split}
}

func (r *runWriter) add(key base.InternalKey, value []byte, _ bool) error {
	if err := r.prepare(key); err != nil {
		return err
	}
	return r.w.Add(key, value)
}

// addCompressed is add for a value held as a compressed block (see
// sst.Writer.AddCompressed).
func (r *runWriter) addCompressed(key base.InternalKey, block []byte) error {
	if err := r.prepare(key); err != nil {
		return err
	}
	return r.w.AddCompressed(key, block)
}

// prepare makes the file key goes to the open one: it finishes the current
// file past the target size (at a user-key boundary) and starts the next.
func (r *runWriter) prepare(key base.InternalKey) error {
	if r.w != nil && r.split && r.w.EstimatedSize() >= r.target && !bytes.Equal(key.UserKey, r.lastKey) {
		if err := r.finishFile(key.UserKey); err != nil {
			return err
		}
	}
	if r.w == nil {
		if err := r.startFile(); err != nil {
			return err
		}
	}
	r.lastKey = append(r.lastKey[:0], key.UserKey...)
	return nil
}

func (r *runWriter) startFile() error {
	num := r.d.allocFileNum()
	if r.runID == 0 {
		r.runID = uint64(num)
	}
	name := base.MakeFilename(base.FileTypeTable, num)
	f, err := r.d.fs.Create(r.d.path(name))
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	r.created = append(r.created, num)
	r.closers = append(r.closers, f.Close)
	r.w = sst.NewWriter(f, sst.WriterOptions{
		PageSize:        r.d.opts.PageSize,
		BloomBitsPerKey: r.bloomBits,
		FileName:        name,
		Compression:     r.d.opts.sstCompression(),
	})
	r.cur = manifest.FileMeta{FileNum: num, Run: r.runID}
	return nil
}

// finishFile writes the tombstones of [r.lo, hi) into the open file and
// completes it; hi nil means the rest of the key space.
func (r *runWriter) finishFile(hi []byte) error {
	var tombLo, tombHi []byte
	var tombLoSeq base.SeqNum
	for _, f := range rangedel.Clip(r.frags, r.lo, hi) {
		for _, seq := range f.Seqs {
			if err := r.w.AddRangeDel(f.Start, f.End, seq); err != nil {
				return err
			}
		}
		if tombLo == nil {
			tombLo, tombLoSeq = f.Start, f.Seqs[0]
		}
		tombHi = f.End
	}
	r.lo = append([]byte(nil), hi...)
	props, err := r.w.Finish()
	r.w = nil
	if err != nil {
		return fmt.Errorf("finish %s: %w", base.MakeFilename(base.FileTypeTable, r.cur.FileNum), err)
	}
	closeFile := r.closers[len(r.closers)-1]
	r.closers = r.closers[:len(r.closers)-1]
	if err := closeFile(); err != nil {
		return fmt.Errorf("close %s: %w", base.MakeFilename(base.FileTypeTable, r.cur.FileNum), err)
	}
	m := r.cur
	m.Size = uint64(props.Pages) * uint64(props.PageSize)
	m.Smallest = props.Smallest
	m.Largest = props.Largest
	if tombLo != nil {
		// The file's range covers its tombstones. The start is the first
		// tombstone's own key; an end bound is exclusive, so it is recorded
		// as a sentinel sorting before every real entry of that user key
		// (and before the next file's first tombstone starting there).
		sentinel := base.MakeTrailer(base.MaxSeqNum, base.KindRangeDelete)
		lo := base.MakeInternalKey(append([]byte(nil), tombLo...), tombLoSeq, base.KindRangeDelete)
		hi := base.InternalKey{UserKey: append([]byte(nil), tombHi...), Trailer: sentinel}
		if props.Entries == 0 || base.CompareInternal(lo, m.Smallest) < 0 {
			m.Smallest = lo
		}
		if props.Entries == 0 || base.CompareInternal(hi, m.Largest) > 0 {
			m.Largest = hi
		}
	}
	m.SmallestSeq = props.SmallestSeq
	m.LargestSeq = props.LargestSeq
	m.Entries = props.Entries
	m.BloomBitsPerKey = props.BloomBitsPerKey
	r.metas = append(r.metas, m)
	return nil
}

// finish completes the last file and syncs the directory so every new name
// is durable before a manifest edit refers to it.
func (r *runWriter) finish() ([]manifest.FileMeta, error) {
	if r.w == nil && len(rangedel.Clip(r.frags, r.lo, nil)) > 0 {
		if err := r.startFile(); err != nil {
			r.abort()
			return nil, err
		}
	}
	if r.w != nil {
		if err := r.finishFile(nil); err != nil {
			r.abort()
			return nil, err
		}
	}
	if len(r.metas) > 0 {
		if err := r.d.fs.SyncDir(r.d.dirname); err != nil {
			r.abort()
			return nil, fmt.Errorf("sync %s: %w", r.d.dirname, err)
		}
	}
	return r.metas, nil
}

// abort removes every file the writer created.
func (r *runWriter) abort() {
	if r.w != nil {
		r.w.Abort()
		r.w = nil
	}
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
	for _, num := range r.created {
		r.d.fs.Remove(r.d.path(base.MakeFilename(base.FileTypeTable, num)))
	}
	r.metas = nil
}
