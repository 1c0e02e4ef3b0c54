package db

import (
	"errors"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/merge"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/sst"
)

// errCompactionCanceled is what a compaction returns when its cancel
// channel closed before it was done: it wrote nothing that stays.
var errCompactionCanceled = errors.New("strata: compaction canceled")

// compactLocked runs compaction c: it streams the input runs through a heap
// merge, writes the surviving entries as one new run of files at the output
// level, and installs the result with one manifest edit. The inputs are
// deleted when the last version naming them is released. Once cancel is
// closed (nil: never) it stops, removes what it wrote and returns
// errCompactionCanceled, unless less than Options.closeFinishBytes of its
// input is left to read (by the bytes it has written): then it finishes.
// d.mu is held on entry and exit, released for the I/O.
func (d *DB) compactLocked(c *lsm.Compaction, cancel <-chan struct{}) error {
	// Every reader from now on reads at or above oldestRead.
	snapshots, oldestRead := d.readPoints()
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
		metas, bytesIn, err = d.runCompaction(c, snapshots, oldestRead, cancel)
		d.mu.Lock()
		if err != nil {
			return err
		}
		d.failpoint(fpCompactSynced)
	}
	runID := c.OutputRunID
	if runID == 0 {
		runID = uint64(d.mu.nextFileNum)
		d.mu.nextFileNum++
	}
	for i := range metas {
		metas[i].Run = runID
	}
	edit := &manifest.VersionEdit{NextFileNum: d.mu.nextFileNum}
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
	d.mu.stats.compactions++
	if c.TrivialMove {
		d.mu.stats.trivialMoves++
	}
	d.mu.stats.compactBytesIn += bytesIn
	d.mu.stats.compactBytesOut += bytesOut
	return nil
}

func (d *DB) runCompaction(c *lsm.Compaction, snapshots []base.SeqNum, oldestRead base.SeqNum, cancel <-chan struct{}) ([]manifest.FileMeta, uint64, error) {
	var children []base.InternalIterator
	var tombs []rangedel.Tombstone
	for _, in := range c.Inputs {
		children = append(children, &scanRunIter{tables: d.tables, files: in.Files, idx: -1})
		for _, f := range in.Files {
			e, err := d.tables.entry(f)
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
	if d.opts.Merge != nil {
		ci.SetMergeOperator(d.opts.Merge)
	}
	ci.SetRangeDels(rangedel.NewSet(tombs, base.MaxSeqNum))
	out := newRunWriter(d, d.opts.TargetFileSize, true)
	out.frags = ci.OutputRangeDels()
	out.bloomBits = d.bloomBits(c, c.OutputLevel)
	var written uint64 // key and stored value bytes passed to out
	for n := 0; ci.Next(); n++ {
		if cancel != nil && n%cancelCheckEntries == 0 {
			select {
			case <-cancel:
				if bytesIn-min(written, bytesIn) > uint64(d.opts.closeFinishBytes) {
					out.abort()
					return nil, 0, errCompactionCanceled
				}
			default:
			}
		}
		var err error
		if block, ok := ci.StoredValue(); ok {
			err = out.addCompressed(ci.Key(), block)
			written += uint64(len(ci.Key().UserKey) + len(block))
		} else {
			err = out.add(ci.Key(), ci.Value())
			written += uint64(len(ci.Key().UserKey) + len(ci.Value()))
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

// cancelCheckEntries is how many entries a cancelable compaction writes
// between looks at its cancel channel.
const cancelCheckEntries = 256

// manualCompaction is a request from Compact to the compaction goroutine.
type manualCompaction struct {
	start, end []byte
	done       chan error
}

// Compact flushes the memtable and compacts every file overlapping [start,
// end] (nil bounds are unbounded), together with the files overlapping
// those, into the last level: afterwards the range holds one version of
// each live key and no tombstones that no snapshot needs. It waits for the
// compaction.
func (d *DB) Compact(start, end []byte) error {
	if d.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := d.Flush(); err != nil {
		return err
	}
	req := &manualCompaction{start: clone(start), end: clone(end), done: make(chan error, 1)}
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.mu.manualReqs = append(d.mu.manualReqs, req)
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

// scanRunIter reads the files of one run first to last for a compaction, each
// through an sst.ScanIter: the compaction's reads bypass the buffer pool, so
// readers holding every frame pinned cannot stop compactions (and with them
// writes), and the compaction does not push the readers' pages out. Only First
// and Next move it.
type scanRunIter struct {
	tables *tableCache
	files  []*lsm.File
	idx    int
	iter   *sst.ScanIter
	err    error
}

// open makes files[i] the current file; false at the end or on error.
func (it *scanRunIter) open(i int) bool {
	if it.iter != nil {
		if err := it.iter.Close(); err != nil && it.err == nil {
			it.err = err
		}
		it.iter = nil
	}
	it.idx = i
	if i >= len(it.files) || it.err != nil {
		return false
	}
	e, err := it.tables.fileEntry(it.files[i])
	if err != nil {
		it.err = err
		return false
	}
	it.iter = e.r.NewScanIter(0)
	return true
}

// settle moves on to later files until one has an entry.
func (it *scanRunIter) settle(ok bool) bool {
	for !ok && it.err == nil && it.iter != nil {
		if err := it.iter.Error(); err != nil {
			it.err = err
			return false
		}
		if !it.open(it.idx + 1) {
			return false
		}
		ok = it.iter.First()
	}
	return ok && it.err == nil
}

func (it *scanRunIter) First() bool { return it.open(0) && it.settle(it.iter.First()) }

func (it *scanRunIter) Next() bool {
	return it.iter != nil && it.err == nil && it.settle(it.iter.Next())
}

func (it *scanRunIter) fail() bool {
	if it.err == nil {
		it.err = fmt.Errorf("compaction: a run scan moves forward only")
	}
	return false
}

func (it *scanRunIter) Last() bool            { return it.fail() }
func (it *scanRunIter) SeekGE([]byte) bool    { return it.fail() }
func (it *scanRunIter) SeekLT([]byte) bool    { return it.fail() }
func (it *scanRunIter) Prev() bool            { return it.fail() }
func (it *scanRunIter) Valid() bool           { return it.err == nil && it.iter != nil && it.iter.Valid() }
func (it *scanRunIter) Key() base.InternalKey { return it.iter.Key() }
func (it *scanRunIter) Value() []byte         { return it.iter.Value() }
func (it *scanRunIter) Error() error {
	if it.err == nil && it.iter != nil {
		return it.iter.Error()
	}
	return it.err
}
func (it *scanRunIter) StoredValue() ([]byte, bool) { return it.iter.StoredValue() }

func (it *scanRunIter) Close() error {
	if it.iter != nil {
		if err := it.iter.Close(); err != nil && it.err == nil {
			it.err = err
		}
		it.iter = nil
	}
	return it.err
}
