package db

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/memtable"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
)

// readState is the immutable view a reader works on: the memtables and the
// version. It is reference counted; the last unref releases the version,
// which may make files obsolete.
//
// A plain RWMutex guards the pointer swap (DB.rsMu). Readers hold it only to
// take a reference, never across I/O, so flushes and compactions never block them.
type readState struct {
	refs atomic.Int32
	// gets counts the point lookups that searched v's runs, for the read
	// debt (see getsPerPositioning); beside refs, which every Get touches
	// anyway.
	gets   atomic.Uint32
	mem    *memtable.Memtable
	imms   []*memtable.Memtable // newest first
	v      *lsm.Version
	excess int // excessRuns(v)
	levels int // extraLevels(v)
}

func (rs *readState) unref() {
	if rs.refs.Add(-1) == 0 {
		rs.v.Unref()
		rs.mem.Unref()
		for _, m := range rs.imms {
			m.Unref()
		}
	}
}

// loadReadState returns the current view with a reference, or nil after
// Close.
func (d *DB) loadReadState() *readState {
	d.rsMu.RLock()
	rs := d.rs
	if rs != nil {
		rs.refs.Add(1)
	}
	d.rsMu.RUnlock()
	return rs
}

// installReadStateLocked publishes a new view built from d's current
// memtables and version. d.mu must be held; the old view is released after
// the swap, outside rsMu.
func (d *DB) installReadStateLocked() {
	rs := &readState{mem: d.mu.mem, v: d.mu.version}
	if !d.opts.Experimental.NoReadCompactions {
		rs.excess, rs.levels = excessRuns(d.mu.version), extraLevels(d.mu.version)
	}
	rs.refs.Store(1)
	d.mu.version.Ref()
	d.mu.mem.Ref()
	for i := len(d.mu.imms) - 1; i >= 0; i-- {
		d.mu.imms[i].mem.Ref()
		rs.imms = append(rs.imms, d.mu.imms[i].mem)
	}
	d.rsMu.Lock()
	old := d.rs
	d.rs = rs
	d.rsMu.Unlock()
	if old != nil {
		old.unref()
	}
}

// tableCache keeps one open sst.Reader per live SST, opened on first use.
type tableCache struct {
	fs      vfs.FS
	dirname string
	cache   *cache.Pool
	// direct asks for O_DIRECT reads (Options.DirectIO).
	direct bool
	// search is how readers find a key's leaf.
	search sst.SearchMode
	// directFiles and directFallbacks count SSTs opened with O_DIRECT and
	// those that fell back to buffered reads because the filesystem
	// refused it.
	directFiles, directFallbacks atomic.Uint64

	mu     sync.Mutex
	tables map[base.FileNum]*tableEntry // guarded by mu
	// retired sums the filter counters of closed readers. Guarded by mu.
	retired sst.ReaderStats
}

// filterStats sums the Bloom filter counters of every reader, open or
// closed.
func (tc *tableCache) filterStats() sst.ReaderStats {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	s := tc.retired
	for _, e := range tc.tables {
		if e.opened.Load() && e.r != nil {
			addStats(&s, e.r.Stats())
		}
	}
	return s
}

func addStats(s *sst.ReaderStats, o sst.ReaderStats) {
	s.BloomChecks += o.BloomChecks
	s.BloomNegatives += o.BloomNegatives
	s.BloomFalsePositives += o.BloomFalsePositives
	s.Prefetches += o.Prefetches
	s.PrefetchedPages += o.PrefetchedPages
}

type tableEntry struct {
	once sync.Once
	// opened is set once once has run, so that code that does not take
	// part in once (filterStats) may read r and err.
	opened atomic.Bool
	r      *sst.Reader
	err    error
	// rangeDels is the file's tombstones, fragmented once at open.
	rangeDels *rangedel.Set
}

func newTableCache(fs vfs.FS, dirname string, c *cache.Pool) *tableCache {
	return &tableCache{fs: fs, dirname: dirname, cache: c, tables: make(map[base.FileNum]*tableEntry)}
}

// sstTombstones converts an SST's range deletions.
func sstTombstones(rds []sst.RangeDel) []rangedel.Tombstone {
	ts := make([]rangedel.Tombstone, len(rds))
	for i, rd := range rds {
		ts[i] = rangedel.Tombstone{Start: rd.Start, End: rd.End, Seq: rd.Seq}
	}
	return ts
}

// fileEntry returns the open entry of f, cached on f after the first
// lookup so the hot path takes no lock.
func (tc *tableCache) fileEntry(f *lsm.File) (*tableEntry, error) {
	if e, ok := f.Handle().(*tableEntry); ok {
		return e, nil
	}
	e, err := tc.entry(f)
	if err != nil {
		return nil, err
	}
	f.SetHandle(e)
	return e, nil
}

// entry returns the open entry of file f.
func (tc *tableCache) entry(f *lsm.File) (*tableEntry, error) {
	num := f.FileNum
	tc.mu.Lock()
	e := tc.tables[num]
	if e == nil {
		e = &tableEntry{}
		tc.tables[num] = e
	}
	tc.mu.Unlock()
	return tc.openEntry(num, f.GlobalSeq, e)
}

// openEntry opens e, the entry of file num, unless it is open already.
func (tc *tableCache) openEntry(num base.FileNum, globalSeq base.SeqNum, e *tableEntry) (*tableEntry, error) {
	e.once.Do(func() {
		name := base.MakeFilename(base.FileTypeTable, num)
		e.r, e.err = tc.open(num, name, globalSeq)
		if e.err == nil {
			e.rangeDels = rangedel.NewSet(sstTombstones(e.r.RangeDels()), base.MaxSeqNum)
		}
		e.opened.Store(true)
	})
	if e.err != nil {
		tc.mu.Lock()
		if tc.tables[num] == e {
			delete(tc.tables, num)
		}
		tc.mu.Unlock()
		return nil, e.err
	}
	if e.r == nil {
		// closeAll (Close) or evict shut the entry before it was opened,
		// while a reader that had looked it up waited to open it.
		return nil, fmt.Errorf("%w: table %d was shut before it was opened", ErrClosed, num)
	}
	return e, nil
}

// open opens SST num, with O_DIRECT when asked and the filesystem allows
// it, else with buffered reads.
func (tc *tableCache) open(num base.FileNum, name string, globalSeq base.SeqNum) (*sst.Reader, error) {
	path := filepath.Join(tc.dirname, name)
	o := sst.ReaderOptions{Cache: tc.cache, FileNum: num, FileName: name, SearchMode: tc.search, GlobalSeq: globalSeq}
	if tc.direct {
		if f, err := vfs.OpenDirect(tc.fs, path); err == nil {
			o.DirectIO = true
			r, err := sst.Open(f, o)
			if err == nil {
				tc.directFiles.Add(1)
				return r, nil
			}
			if !errors.Is(err, vfs.ErrDirectIOAlignment) {
				return nil, err
			}
			o.DirectIO = false
		}
		tc.directFallbacks.Add(1)
	}
	f, err := tc.fs.Open(path)
	if err != nil {
		return nil, err
	}
	return sst.Open(f, o)
}

// evict closes the reader of num, if open, and drops its pages (pages of
// them) from the pool. Called only for files no version names, so no
// reader can be using it.
func (tc *tableCache) evict(num base.FileNum, pages uint32) {
	tc.mu.Lock()
	e := tc.tables[num]
	delete(tc.tables, num)
	tc.mu.Unlock()
	if e != nil {
		e.once.Do(func() {})
		if e.r != nil {
			tc.mu.Lock()
			addStats(&tc.retired, e.r.Stats())
			tc.mu.Unlock()
			e.r.Close()
		}
	}
	tc.cache.EvictPages(num, pages)
}

// closeAll closes every open reader.
func (tc *tableCache) closeAll() {
	tc.mu.Lock()
	entries := tc.tables
	tc.tables = make(map[base.FileNum]*tableEntry)
	tc.mu.Unlock()
	for _, e := range entries {
		e.once.Do(func() {})
		if e.r != nil {
			e.r.Close()
		}
	}
}
