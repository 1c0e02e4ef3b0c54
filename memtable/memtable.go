// Package memtable is the sorted in-memory map of internal keys that every
// write lands in before it is flushed to an SST.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for db only.
//
// Point entries (Set and Delete) live in a copy-on-write B-tree
// (github.com/google/btree) ordered by base.CompareInternal: user key
// ascending, then seqnum descending, so the newest version of a key comes
// first. Range tombstones are kept apart, in insertion order, and handed out
// sorted by RangeDels.
//
// Keys and values are copied into an arena of large chunks owned by the
// memtable, so Add allocates once per chunk, not once per entry, and the
// bytes Get and the iterators return stay valid and unchanged for as long as
// the caller holds them (the memory is never reused while referenced).
//
// Concurrency: one goroutine at a time calls Add; Get, NewIter, RangeDels and
// the size methods may run concurrently with it and with each other. A
// sync.RWMutex guards the tree, and Add never waits for it while readers
// hold it: it writes each entry into a ring of pending entries,
// publishes it there with an atomic count, and moves the pending entries
// into the tree only when TryLock gets the write lock. Get takes the read
// lock, searches the tree and scans the few pending entries, unless the
// memtable's Bloom filter of keys (filter.go) shows that it does not hold
// the key, as it does not for most gets. Add blocks on the lock only when
// the ring is full, after pendingInserts failed tries.
// NewIter takes the write lock briefly, moves the pending entries into
// the tree and clones it (btree.Clone changes the tree's copy-on-write
// context); the iterator then walks its private clone without any lock,
// while later inserts copy the nodes they change.
//
// When Add waited for the write lock, it waited for every Get in
// progress, and with more runnable goroutines than processors a Get
// holding the read lock was often descheduled: writes with reads beside
// them waited milliseconds. Publishing a read-only clone for lock-free
// Gets instead costs a copy of a leaf per insert whenever reads come
// between inserts. A lock-free skiplist (as LevelDB and Pebble use) would
// avoid both, but the design fixes google/btree.
package memtable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
)

// btreeDegree is the B-tree's degree: nodes hold up to 2*degree-1 entries.
// Degrees 32 and 64 do Add and Get at least as well as 8 and 16 and iterate
// clearly faster (fewer nodes visited per refill); 32 is chosen over 64
// because the first Add after each NewIter copies a root-to-leaf path of
// nodes, and 64's are twice as big (127 entries of 40 bytes).
const btreeDegree = 32

// entryOverhead is the memory an entry costs beyond its key and value bytes,
// for ApproximateSize: the 40-byte entry in a B-tree node, the slack of
// nodes that are not full and their child pointers. That is about 63 bytes
// when keys arrive in random order (nodes about 70% full) and 89 in
// ascending order (google/btree splits in the middle, so the left halves
// stay half full); 80 lies between, nearer the sequential case.
const entryOverhead = 80

// entry is one point entry. It is stored by value in the B-tree, 40 bytes
// with one pointer: data points at the entry's key followed directly by its
// value (klen and vlen bytes), in arena memory that is never modified. A
// search pivot points at the caller's key and has no value.
//
// prefix holds the first 16 bytes of the key inline, so that most
// comparisons never dereference data: the B-tree's searches (and
// google/btree's iteration, which binary-searches every node it visits)
// compare against entries whose keys lie scattered in the arena, and each
// dereference is a likely cache miss. Get, Next and Prev are all markedly
// faster for it than when comparing key slices.
//
// Holding the key and the value as two slices instead would make an entry
// 72 bytes with two pointers, which costs more in every node split, in each
// by-value copy the B-tree's comparisons make, and in the garbage
// collector's scan of the nodes.
type entry struct {
	prefix     keyPrefix
	data       *byte
	klen, vlen uint32
	trailer    uint64
}

// key returns the entry's user key.
func (e *entry) key() []byte {
	return unsafe.Slice(e.data, int(e.klen)+int(e.vlen))[:e.klen:e.klen]
}

// value returns the entry's value (nil for a search pivot or an entry whose
// key and value are both empty).
func (e *entry) value() []byte {
	return unsafe.Slice(e.data, int(e.klen)+int(e.vlen))[e.klen:]
}

// keyPrefix is the first 16 bytes of a key, big-endian, padded with zeros.
type keyPrefix struct{ hi, lo uint64 }

func makePrefix(key []byte) keyPrefix {
	if len(key) >= 16 {
		return keyPrefix{binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])}
	}
	var buf [16]byte
	copy(buf[:], key)
	return keyPrefix{binary.BigEndian.Uint64(buf[:]), binary.BigEndian.Uint64(buf[8:])}
}

// makeEntry builds an entry whose key and value lie side by side in kv (the
// key its first klen bytes).
func makeEntry(kv []byte, klen int, trailer uint64) entry {
	return entry{
		prefix:  makePrefix(kv[:klen]),
		data:    unsafe.SliceData(kv),
		klen:    uint32(klen),
		vlen:    uint32(len(kv) - klen),
		trailer: trailer,
	}
}

// makePivot builds a search key for key: an entry with no value.
func makePivot(key []byte, trailer uint64) entry { return makeEntry(key, len(key), trailer) }

// compareKeys compares the user keys of a and b as bytes.Compare would.
//
// When the zero-padded prefixes differ, they order the keys: at the first
// differing byte either both keys have real bytes, or the shorter key has
// ended (a padding zero) and is a proper prefix of the longer one, which
// therefore has a non-zero byte there. When the prefixes are equal and one
// key has at most 16 bytes, that key is a prefix of the other (the rest of
// the other's first 16 bytes being zeros), so the shorter key is the smaller.
// Otherwise both share their first 16 bytes and the tails decide.
func compareKeys(a, b *entry) int {
	switch {
	case a.prefix.hi != b.prefix.hi:
		return cmpUint64(a.prefix.hi, b.prefix.hi)
	case a.prefix.lo != b.prefix.lo:
		return cmpUint64(a.prefix.lo, b.prefix.lo)
	case a.klen <= 16 || b.klen <= 16:
		return cmpUint64(uint64(a.klen), uint64(b.klen))
	}
	return bytes.Compare(a.key()[16:], b.key()[16:])
}

func cmpUint64(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// entryLess orders entries as base.CompareInternal orders internal keys.
func entryLess(a, b entry) bool {
	if c := compareKeys(&a, &b); c != 0 {
		return c < 0
	}
	return a.trailer > b.trailer
}

// seekTrailer is a trailer no entry carries that sorts before every real
// entry of the same user key (seqnums are at most base.MaxSeqNum, so real
// trailers are below it). (key, seekTrailer) is a pivot between key's
// predecessors and key's own entries.
const seekTrailer = ^uint64(0)

// RangeTombstone is a range deletion: it deletes the user keys in
// [Start, End) written with a seqnum below Seq. Start and End alias memtable
// memory and must not be modified.
type RangeTombstone struct {
	Start, End []byte
	Seq        base.SeqNum
}

// Memtable is a sorted in-memory map of internal keys. See the package
// documentation for its concurrency rules.
type Memtable struct {
	mu sync.RWMutex
	// points holds the Set and Delete entries, but for the pending ones.
	// Guarded by mu; NewIter takes mu for writing because Clone changes
	// the tree.
	points *btree.BTreeG[entry]
	// pending holds the point entries Add has published but not yet
	// inserted into points: those numbered inTree to added-1, entry i in
	// pending[i%pendingInserts]. Add writes a slot before raising added,
	// and only while fewer than pendingInserts entries are pending, so no
	// reader is in the slot it writes.
	pending [pendingInserts]entry
	// added counts the point entries added; inTree those of them in
	// points. inTree changes only under mu held for writing.
	added, inTree atomic.Uint64
	// rangeDels holds the range tombstones in insertion order. Guarded by
	// mu. Elements are never changed once appended, so a reader may keep a
	// prefix of the slice after releasing mu.
	rangeDels []RangeTombstone

	// sortedMu guards sorted, the cached result of RangeDels. Lock order:
	// sortedMu before mu.
	sortedMu sync.Mutex
	// sorted is rangeDels[:len(sorted)] sorted; it is replaced, never
	// modified, when tombstones are added, so callers may share it.
	sorted []RangeTombstone
	// set is rangeDels[:setLen] fragmented, the cached result of
	// RangeDelSet; replaced, never modified. Guarded by sortedMu.
	set    *rangedel.Set
	setLen int

	// arena holds the bytes of keys and values. Only the writer (Add)
	// touches it.
	arena arena

	// filter holds the user keys of the point entries, pending ones
	// included, for Get to skip the tree for keys it does not hold.
	filter keyFilter

	// iterBufs recycles the refill buffers of closed iterators (*[]entry),
	// so that an iterator per seek allocates little.
	iterBufs sync.Pool

	// refs counts the holders of the memtable (see Ref); the last Unref
	// gives the arena's chunks back to its pool.
	refs atomic.Int32

	// Counters readable without the lock.
	size       atomic.Int64 // ApproximateSize
	nPoints    atomic.Int64 // point entries in points
	nRangeDels atomic.Int64 // entries in rangeDels
}

// NewPooled returns an empty memtable, with one reference, whose arena takes
// its large chunks from pool (nil: none) and gives them back when the last
// reference is dropped. Its key filter is sized for the pool's memtable
// size (defaultFilterMemtable without a pool).
func NewPooled(pool *ChunkPool) *Memtable {
	m := &Memtable{points: btree.NewG[entry](btreeDegree, entryLess)}
	m.arena.pool = pool
	size := int64(defaultFilterMemtable)
	if pool != nil {
		size = pool.memtableSize
	}
	m.filter.init(filterWords(size))
	m.refs.Store(1)
	return m
}

// Ref adds a reference: the holder will read the memtable, or memory it
// returned (Get's values, iterators' keys and values, RangeDels), until it
// calls Unref.
func (m *Memtable) Ref() { m.refs.Add(1) }

// Unref drops a reference. The last one hands the arena's chunks back to
// the pool, to be written over by another memtable: nothing may read this
// memtable's memory after it. Without a pool it does nothing more.
func (m *Memtable) Unref() {
	n := m.refs.Add(-1)
	if n < 0 {
		panic("memtable: Unref without a reference")
	}
	if n == 0 && m.arena.pool != nil {
		full := m.arena.full
		m.arena.full, m.arena.chunk = nil, nil
		m.arena.pool.put(full)
	}
}

// Add inserts an entry. kind is base.KindSet, base.KindDelete,
// base.KindMerge or base.KindRangeDelete; for a range deletion key is the start of the range
// (inclusive) and value its end (exclusive). Add copies key and value into
// memtable-owned memory. Adding an entry whose key, seqnum and kind equal an
// existing one replaces it (the database never does this: every write has a
// seqnum of its own).
//
// Only one goroutine may call Add at a time. Add panics if kind is not one of
// the four kinds, seq exceeds base.MaxSeqNum or the key or value is 4 GiB
// or longer: all are programming errors (decoders of on-disk batches must
// validate kinds before they get here, and the database's limits on keys
// and values are far lower).
func (m *Memtable) Add(seq base.SeqNum, kind base.Kind, key, value []byte) {
	if seq > base.MaxSeqNum {
		panic(fmt.Sprintf("memtable: seqnum %d exceeds MaxSeqNum", seq))
	}
	switch kind {
	case base.KindSet, base.KindDelete, base.KindRangeDelete, base.KindMerge:
	default:
		panic(fmt.Sprintf("memtable: Add of unknown kind %d", kind))
	}
	if uint64(len(key)) > math.MaxUint32 || uint64(len(value)) > math.MaxUint32 {
		panic(fmt.Sprintf("memtable: Add of a %d-byte key or %d-byte value (entries hold 32-bit lengths)", len(key), len(value)))
	}
	// Copy key and value into one arena allocation, outside the lock:
	// readers cannot see these bytes until the entry is published below.
	buf, waste := m.arena.alloc(len(key) + len(value))
	k := copy(buf, key)
	copy(buf[k:], value)
	m.size.Add(int64(len(buf) + waste + entryOverhead))

	if kind == base.KindRangeDelete {
		m.mu.Lock()
		m.rangeDels = append(m.rangeDels, RangeTombstone{Start: buf[:k:k], End: buf[k:], Seq: seq})
		m.mu.Unlock()
		m.nRangeDels.Add(1)
		return
	}
	e := makeEntry(buf, k, base.MakeTrailer(seq, kind))
	m.filter.add(key) // before the entry is published: see keyFilter
	n := m.added.Load()
	if n-m.inTree.Load() == pendingInserts {
		m.mu.Lock() // the ring is full: wait for the readers
		m.insertPendingLocked()
		m.mu.Unlock()
	}
	m.pending[n%pendingInserts] = e
	m.added.Store(n + 1)
	if m.mu.TryLock() {
		m.insertPendingLocked()
		m.mu.Unlock()
	}
}

// defaultFilterMemtable is the memtable size the key filter of a memtable
// without a chunk pool is sized for.
const defaultFilterMemtable = 1 << 20

// pendingInserts is the size of the ring of pending entries: Get scans up
// to this many, and Add blocks on the lock after this many failed tries.
const pendingInserts = 128

// insertPendingLocked moves the pending entries into the tree. m.mu is
// held for writing.
func (m *Memtable) insertPendingLocked() {
	n := m.added.Load()
	for i := m.inTree.Load(); i < n; i++ {
		if _, replaced := m.points.ReplaceOrInsert(m.pending[i%pendingInserts]); !replaced {
			m.nPoints.Add(1)
		}
	}
	m.inTree.Store(n)
}

// Get returns the newest point entry (Set, Delete or Merge) for key with a seqnum at
// most seq. value aliases memtable memory, which is never modified; it is nil
// for a Delete. Get does not consult range tombstones: callers combine it
// with RangeDels. It does not allocate.
func (m *Memtable) Get(key []byte, seq base.SeqNum) (value []byte, kind base.Kind, entrySeq base.SeqNum, found bool) {
	if m.added.Load() == 0 || !m.filter.mayContain(key) {
		return nil, 0, 0, false
	}
	seq = min(seq, base.MaxSeqNum)
	// (key, seq, KindMax) sorts before every entry of key with seqnum <=
	// seq and after those with larger seqnums, so the first entry at or
	// after it is the answer if it has the same user key.
	search := makePivot(key, base.MakeTrailer(seq, base.KindMax))
	var e entry
	m.mu.RLock()
	m.points.AscendGreaterOrEqual(search, func(it entry) bool {
		e, found = it, true
		return false
	})
	for i, n := m.inTree.Load(), m.added.Load(); i < n; i++ {
		// The pending entries are newer than the tree's: on a tie (an
		// entry replaced), the pending one wins, and the later of two.
		if r := m.pending[i%pendingInserts]; !entryLess(r, search) && (!found || !entryLess(e, r)) {
			e, found = r, true
		}
	}
	m.mu.RUnlock()
	if !found || e.prefix != search.prefix || !bytes.Equal(e.key(), key) {
		return nil, 0, 0, false
	}
	ik := base.InternalKey{Trailer: e.trailer}
	if ik.Kind() == base.KindDelete {
		return nil, base.KindDelete, ik.SeqNum(), true
	}
	return e.value(), ik.Kind(), ik.SeqNum(), true
}

// ApproximateSize returns the memory the entries use: the bytes of keys and
// values, the arena memory their allocations left unusable (chunk ends,
// the rounding of large values) and a fixed per-entry overhead. The flush
// decision compares it with the memtable size option.
func (m *Memtable) ApproximateSize() int64 { return m.size.Load() }

// len returns the number of point entries (Sets and Deletes).
func (m *Memtable) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.insertPendingLocked()
	return int(m.nPoints.Load())
}

// Empty reports whether the memtable holds no entries of any kind.
func (m *Memtable) Empty() bool { return m.added.Load() == 0 && m.nRangeDels.Load() == 0 }

// NewIter returns an iterator over the point entries present when it was
// created; later Adds do not show in it. Key and Value of the iterator alias
// memtable memory, which is never modified. Range tombstones are not
// included: see RangeDels.
func (m *Memtable) NewIter() base.InternalIterator {
	m.mu.Lock()
	m.insertPendingLocked()
	t := m.points.Clone()
	m.mu.Unlock()
	return newIter(t, &m.iterBufs)
}

// HasRangeDels reports, without locking, whether any range tombstone has
// been added.
func (m *Memtable) HasRangeDels() bool { return m.nRangeDels.Load() > 0 }

// RangeDels returns the range tombstones added so far, sorted by Start
// ascending, then Seq descending (then End ascending). The returned slice is
// shared with other callers and must not be modified; it does not change
// when more tombstones are added later. It allocates only when tombstones
// were added since the previous call.
func (m *Memtable) RangeDels() []RangeTombstone {
	m.sortedMu.Lock()
	defer m.sortedMu.Unlock()
	m.mu.RLock()
	all := m.rangeDels
	m.mu.RUnlock()
	if len(all) == len(m.sorted) {
		return m.sorted
	}
	s := slices.Clone(all)
	slices.SortFunc(s, func(a, b RangeTombstone) int {
		if c := bytes.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		if a.Seq != b.Seq {
			if a.Seq > b.Seq {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.End, b.End)
	})
	m.sorted = s
	return s
}

// RangeDelSet returns the range tombstones added so far, fragmented for
// lookups (every seqnum kept: rangedel.Set.MaxCovering takes the reader's).
// It is shared and must not be modified; it is built again only after
// tombstones were added, so readers that look up keys or open iterators
// between range deletes do not fragment them each time.
func (m *Memtable) RangeDelSet() *rangedel.Set {
	m.sortedMu.Lock()
	defer m.sortedMu.Unlock()
	m.mu.RLock()
	all := m.rangeDels
	m.mu.RUnlock()
	if m.set != nil && m.setLen == len(all) {
		return m.set
	}
	ts := make([]rangedel.Tombstone, len(all))
	for i, t := range all {
		ts[i] = rangedel.Tombstone{Start: t.Start, End: t.End, Seq: t.Seq}
	}
	m.set, m.setLen = rangedel.NewSet(ts, base.MaxSeqNum), len(all)
	return m.set
}
