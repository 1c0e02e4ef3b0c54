package db

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/sst"
)

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

func (r *runWriter) add(key base.InternalKey, value []byte) error {
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
		sentinel := base.ExclusiveEndTrailer
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

// bloomBits returns the filter bits per key for a new SST that compaction
// c writes, or, with c nil, a flush at level: Monkey's optimum for the
// tree's current shape (for c, as it will be once c is done), or the
// uniform setting.
func (d *DB) bloomBits(c *lsm.Compaction, level int) float64 {
	if d.opts.BloomBitsPerKey <= 0 {
		return 0
	}
	d.mu.Lock()
	v := d.mu.version
	v.Ref()
	d.mu.Unlock()
	defer v.Unref()
	if c != nil {
		return lsm.BloomBitsForCompaction(v, c, d.pickerOpts, d.opts.BloomBitsPerKey, d.opts.Experimental.UniformBloom)
	}
	return lsm.BloomBitsForLevel(v, level, d.pickerOpts, d.opts.BloomBitsPerKey, d.opts.Experimental.UniformBloom)
}
