package db

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

// TableWriter writes a sorted table (an SST file) for DB.Ingest: keys in
// strictly increasing order, each once, outside any database. Loading
// state this way skips the WAL, the memtable and the compactions a Put of
// every key would pay for.
//
//	w, err := db.NewTableWriter("/tmp/part-0.sst", nil)
//	for _, kv := range sorted { err = w.Set(kv.Key, kv.Value) }
//	err = w.Close()
//	err = d.Ingest("/tmp/part-0.sst")
type TableWriter struct {
	fs     vfs.FS
	path   string
	f      vfs.File
	w      *sst.Writer
	maxKey int
	last   []byte
	n      int
	err    error
}

// ErrKeyOrder is returned by TableWriter for a key not above the one
// before it.
var ErrKeyOrder = errors.New("strata: table keys must be strictly increasing")

// NewTableWriter creates the file path, which must not exist, and returns
// a writer for it. o gives the filesystem, page size, compression and
// Bloom bits (nil means defaults); the page size must be that of the
// database that ingests the file (4096 unless it was created with
// another).
func NewTableWriter(path string, o *Options) (*TableWriter, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := o.ensureDefaults()
	// Never truncate an existing file: it may be a table an Ingest linked
	// into a database, which would change under it.
	if _, err := c.FS.Stat(path); err == nil {
		return nil, fmt.Errorf("strata: table writer: %s: %w (remove it first)", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("strata: table writer: %w", err)
	}
	f, err := c.FS.Create(path)
	if err != nil {
		return nil, fmt.Errorf("strata: table writer: %w", err)
	}
	w := sst.NewWriter(f, sst.WriterOptions{
		PageSize:        c.PageSize,
		BloomBitsPerKey: c.BloomBitsPerKey,
		FileName:        filepath.Base(path),
		Compression:     c.sstCompression(),
	})
	return &TableWriter{fs: c.FS, path: path, f: f, w: w, maxKey: sst.MaxKeySize(c.PageSize)}, nil
}

// Set adds key with value. key must sort after every key added before.
func (w *TableWriter) Set(key, value []byte) error {
	return w.add(base.KindSet, key, value)
}

// Delete adds a deletion of key: ingesting the table deletes the key's
// older versions. key must sort after every key added before.
func (w *TableWriter) Delete(key []byte) error {
	return w.add(base.KindDelete, key, nil)
}

func (w *TableWriter) add(kind base.Kind, key, value []byte) error {
	if w.w == nil {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(key) > w.maxKey {
		return fmt.Errorf("%w: key of %d bytes (limit %d)", ErrKeyTooLarge, len(key), w.maxKey)
	}
	if w.n > 0 && bytes.Compare(key, w.last) <= 0 {
		return fmt.Errorf("%w: %q after %q", ErrKeyOrder, key, w.last)
	}
	if err := w.w.Add(base.MakeInternalKey(key, 0, kind), value); err != nil {
		w.err = fmt.Errorf("strata: table writer: %w", err)
		return w.err
	}
	w.last = append(w.last[:0], key...)
	w.n++
	return nil
}

// Close finishes the table, syncs and closes it. After an error the file
// is removed.
func (w *TableWriter) Close() error {
	if w.w == nil {
		return ErrClosed
	}
	var err error
	if w.err != nil {
		w.w.Abort()
		err = w.err
	} else {
		_, err = w.w.Finish()
	}
	w.w = nil
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		w.fs.Remove(w.path)
		return fmt.Errorf("strata: table writer: %s: %w", w.path, err)
	}
	return nil
}

// ingested is a table brought into the directory by Ingest.
type ingested struct {
	num                    base.FileNum
	size                   uint64
	entries                uint64
	bloomBits              float64
	smallest, largest      []byte
	smallKind, largestKind base.Kind
}

// Ingest adds tables written by TableWriter to the database, atomically:
// a reader sees all of them or none. Their keys become the newest
// versions, as if written by one batch at the moment Ingest returns
// (older versions are shadowed, a snapshot taken before does not see
// them). Each table is hard-linked into the directory where the
// filesystem allows (copied otherwise) and placed at the deepest level
// where nothing above overlaps its keys, so a load into an empty key
// range is not compacted again. The caller may remove its files afterwards
// but must never modify them: a linked file is the database's table.
//
// The tables must not overlap each other, and their page size must be
// the database's. Each is read whole and checked first: a table that is
// damaged, unsorted or holds a key twice is refused. Ingest flushes the
// memtable, and writes wait while it does and while the tables are
// installed; compactions pause until it returns.
func (d *DB) Ingest(paths ...string) error {
	if d.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(paths) == 0 {
		return d.checkOpen()
	}
	if err := d.checkOpen(); err != nil {
		return err
	}
	var tables []ingested
	// handedOver is set once the manifest edit naming the tables is
	// attempted: a failed edit may still be on disk, and the files are
	// then the orphans logAndApplyLocked removes when that is safe.
	handedOver := false
	defer func() {
		if !handedOver {
			for _, t := range tables {
				d.tables.evict(t.num, 0)
				d.fs.Remove(d.path(base.MakeFilename(base.FileTypeTable, t.num)))
			}
		}
	}()
	for _, p := range paths {
		t, err := d.bringIn(p)
		if err != nil {
			return fmt.Errorf("strata: ingest %s: %w", p, err)
		}
		tables = append(tables, t)
	}
	slices.SortFunc(tables, func(a, b ingested) int { return bytes.Compare(a.smallest, b.smallest) })
	for i := 1; i < len(tables); i++ {
		if bytes.Compare(tables[i-1].largest, tables[i].smallest) >= 0 {
			return fmt.Errorf("strata: ingest: tables overlap at %q", tables[i].smallest)
		}
	}
	if err := d.fs.SyncDir(d.dirname); err != nil {
		return fmt.Errorf("strata: ingest: %w", err)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return ErrClosed
	}
	// Writes wait behind a barrier while every memtable is flushed: the
	// tables' seqnum is newer than all their writes, and their run must
	// rank above every run holding them. The barrier comes first: a
	// writer ahead of it may be waiting for a compaction to make room.
	barrier := &writer{}
	barrier.cond.L = &d.mu
	d.enterQueueLocked(barrier)
	defer d.leaveQueueLocked(1)
	d.mu.Unlock()
	d.lockCommit()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	if d.mu.writeErr != nil {
		return d.mu.writeErr
	}
	// Compactions pause, so that none running installs a run ordered above
	// the tables with older data, and the levels checked for overlap stay
	// as they are. Flushes go on.
	d.mu.ingesting++
	defer func() {
		d.mu.ingesting--
		d.bgCond.Broadcast()
	}()
	for (d.mu.compacting || d.mu.compactingLevel0) && !d.mu.closed {
		d.bgCond.Wait()
	}
	if !d.mu.mem.Empty() {
		if err := d.rotateMemtableLocked(); err != nil {
			return d.stopWritesLocked(err)
		}
	}
	failures := d.mu.stats.flushFailures
	for len(d.mu.imms) > 0 {
		switch {
		case d.mu.writeErr != nil:
			return d.mu.writeErr
		case d.mu.stats.flushFailures > failures:
			return fmt.Errorf("strata: ingest: flush: %w", d.mu.lastFlushErr)
		case d.mu.closed:
			return ErrClosed
		}
		d.bgCond.Wait()
	}

	seq := d.mu.lastSeq + 1
	edit := &manifest.VersionEdit{LastSeq: seq}
	newRuns := make(map[int]uint64) // level -> the run the tables start there
	for _, t := range tables {
		level, run := ingestLevel(d.mu.version, t.smallest, t.largest)
		if run == 0 {
			if run = newRuns[level]; run == 0 {
				run = uint64(d.mu.nextFileNum)
				d.mu.nextFileNum++
				newRuns[level] = run
			}
		}
		edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: level, Meta: manifest.FileMeta{
			FileNum:         t.num,
			Size:            t.size,
			Run:             run,
			Smallest:        base.MakeInternalKey(t.smallest, seq, t.smallKind),
			Largest:         base.MakeInternalKey(t.largest, seq, t.largestKind),
			SmallestSeq:     seq,
			LargestSeq:      seq,
			Entries:         t.entries,
			BloomBitsPerKey: t.bloomBits,
			GlobalSeq:       seq,
		}})
	}
	edit.NextFileNum = d.mu.nextFileNum
	handedOver = true
	err := d.logAndApplyLocked(edit, func() {
		d.mu.lastSeq = seq
		d.mu.flushedSeq = seq
		d.visibleSeq.Store(uint64(seq))
	})
	if err != nil {
		// The edit may be on disk all the same: no write may take its
		// seqnum.
		d.mu.lastSeq = max(d.mu.lastSeq, seq)
		return fmt.Errorf("strata: ingest: %w", err)
	}
	d.mu.stats.ingested += uint64(len(tables))
	return nil
}

// bringIn links (or copies) the table at path into the directory under a
// new file number and checks it: page size, every page and the B+Tree and
// filter (sst.Reader.Verify), keys strictly increasing, each at seqnum 0
// and of kind SET or DEL, no range deletions.
func (d *DB) bringIn(path string) (t ingested, err error) {
	t.num = d.allocFileNum()
	name := base.MakeFilename(base.FileTypeTable, t.num)
	dst := d.path(name)
	if _, err := linkOrCopy(d.fs, path, dst); err != nil {
		return t, err
	}
	defer func() {
		if err != nil {
			d.fs.Remove(dst)
		}
	}()
	f, err := d.fs.Open(dst)
	if err != nil {
		return t, err
	}
	ps, err := sst.PageSizeOf(f, name)
	if err != nil {
		f.Close()
		return t, err
	}
	if ps != d.opts.PageSize {
		f.Close()
		return t, fmt.Errorf("page size %d, the database's is %d", ps, d.opts.PageSize)
	}
	r, err := sst.Open(f, sst.ReaderOptions{Cache: d.cache, FileNum: t.num, FileName: name})
	if err != nil {
		return t, err
	}
	defer func() {
		r.Close()
		d.cache.EvictFile(t.num)
	}()
	if _, err := r.Verify(); err != nil {
		return t, err
	}
	props := r.Properties()
	switch {
	case props.Entries == 0:
		return t, errors.New("the table is empty")
	case props.LargestSeq != 0 || props.RangeDels != 0:
		return t, errors.New("not a table from TableWriter: it holds seqnums or range deletions")
	}
	it := r.NewScanIter(0)
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		switch {
		case k.SeqNum() != 0 || (k.Kind() != base.KindSet && k.Kind() != base.KindDelete):
			return t, fmt.Errorf("entry %s: not a table from TableWriter", k)
		case n > 0 && bytes.Compare(k.UserKey, t.largest) <= 0:
			return t, fmt.Errorf("%w: %q after %q", ErrKeyOrder, k.UserKey, t.largest)
		}
		if n == 0 {
			t.smallest, t.smallKind = slices.Clone(k.UserKey), k.Kind()
		}
		t.largest, t.largestKind = append(t.largest[:0], k.UserKey...), k.Kind()
		n++
	}
	if err := it.Error(); err != nil {
		return t, err
	}
	if n != props.Entries {
		return t, fmt.Errorf("%d entries, the metadata says %d", n, props.Entries)
	}
	t.size = uint64(props.Pages) * uint64(props.PageSize)
	t.entries = n
	t.bloomBits = props.BloomBitsPerKey
	return t, nil
}

// ingestLevel chooses where a table of keys [lo, hi] goes in v: the
// deepest level, no deeper than the tree's last, such that no file at it
// or above overlaps the keys (level 0 when level 0 does). run is the run
// it joins there: the level's newest, or 0 for a new run (at level 0 a
// new run always, which ranks above the others).
func ingestLevel(v *lsm.Version, lo, hi []byte) (level int, run uint64) {
	last := max(v.DeepestNonEmpty(), 1)
	for l := 0; l <= last; l++ {
		if levelOverlaps(v, l, lo, hi) {
			break
		}
		level = l
	}
	if level > 0 && len(v.Levels[level]) > 0 {
		return level, v.Levels[level][0].ID
	}
	return level, 0
}

// levelOverlaps reports whether a file of level l has keys in [lo, hi].
func levelOverlaps(v *lsm.Version, l int, lo, hi []byte) bool {
	for _, r := range v.Levels[l] {
		for _, f := range r.Files {
			if bytes.Compare(f.Smallest.UserKey, hi) <= 0 && bytes.Compare(f.Largest.UserKey, lo) >= 0 {
				return true
			}
		}
	}
	return false
}
