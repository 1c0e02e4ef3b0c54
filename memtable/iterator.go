package memtable

import (
	"slices"
	"sync"

	"github.com/google/btree"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Refill sizes. A positioning call (First, Last, SeekGE, SeekLT) fetches
// firstBatch entries, since after a seek the caller often reads only a few;
// each later refill in a walk doubles the size up to batchSize. Each refill
// is one O(log n) descent plus a callback per entry, so Next and Prev cost
// amortised O(1). A seek that fetches 8 entries rather than 32 costs about
// half as much, and beyond 32 a walk gains little, because google/btree
// binary-searches every node it visits anyway.
const (
	firstBatch = 8
	batchSize  = 32
)

// iter is a cursor over a private clone of the B-tree. google/btree offers
// only callback iteration, so the cursor copies a window of consecutive
// entries into buf and moves within it, refilling from the entry at the edge
// when it walks off either end.
//
// Invariant while valid: buf holds consecutive entries of the tree in
// ascending order and buf[pos] is the current entry. loEnd says buf[0] is the
// tree's first entry, hiEnd that buf[len(buf)-1] is its last.
type iter struct {
	tree  *btree.BTreeG[entry]
	buf   []entry
	pos   int
	valid bool
	loEnd bool
	hiEnd bool

	// limit is the size of the current refill.
	limit int
	// skip makes collect drop the first entry it is given: a refill that
	// starts from the entry at the edge of the window gets it back first.
	skip bool
	// collect appends to buf; a method value bound once in newIter, so
	// refills do not allocate a closure.
	collect func(entry) bool
	// bufs takes buf back at Close (the memtable's pool), through bufp.
	bufs *sync.Pool
	bufp *[]entry
}

var _ base.InternalIterator = (*iter)(nil)

func newIter(t *btree.BTreeG[entry], bufs *sync.Pool) *iter {
	it := &iter{tree: t, bufs: bufs}
	if b, ok := bufs.Get().(*[]entry); ok {
		it.bufp = b
	} else {
		b := make([]entry, 0, batchSize)
		it.bufp = &b
	}
	it.buf = (*it.bufp)[:0]
	it.collect = it.collectEntry
	return it
}

func (it *iter) collectEntry(e entry) bool {
	if it.skip {
		it.skip = false
		return true
	}
	it.buf = append(it.buf, e)
	return len(it.buf) < it.limit
}

// nextLimit returns the size of the refill after one of size limit.
func nextLimit(limit int) int { return min(2*limit, batchSize) }

// fillAsc fills buf with up to limit entries in ascending order from pivot
// (the tree's first entries when from is false), dropping the first when
// skip.
func (it *iter) fillAsc(pivot entry, from, skip bool, limit int) bool {
	if it.tree == nil {
		it.valid = false
		return false
	}
	it.buf = it.buf[:0]
	it.skip = skip
	it.limit = limit
	if from {
		it.tree.AscendGreaterOrEqual(pivot, it.collect)
	} else {
		it.tree.Ascend(it.collect)
	}
	it.loEnd = !from
	it.hiEnd = len(it.buf) < limit
	it.pos = 0
	it.valid = len(it.buf) > 0
	return it.valid
}

// fillDesc fills buf with up to limit entries at or before pivot (the tree's
// last entries when from is false), dropping the first met when skip, and
// puts them in ascending order. The cursor is left on the largest.
func (it *iter) fillDesc(pivot entry, from, skip bool, limit int) bool {
	if it.tree == nil {
		it.valid = false
		return false
	}
	it.buf = it.buf[:0]
	it.skip = skip
	it.limit = limit
	if from {
		it.tree.DescendLessOrEqual(pivot, it.collect)
	} else {
		it.tree.Descend(it.collect)
	}
	slices.Reverse(it.buf)
	it.hiEnd = !from
	it.loEnd = len(it.buf) < limit
	it.pos = len(it.buf) - 1
	it.valid = len(it.buf) > 0
	return it.valid
}

// First moves to the first entry.
func (it *iter) First() bool { return it.fillAsc(entry{}, false, false, firstBatch) }

// Last moves to the last entry.
func (it *iter) Last() bool { return it.fillDesc(entry{}, false, false, firstBatch) }

// SeekGE moves to the first entry whose user key is >= key.
func (it *iter) SeekGE(key []byte) bool {
	return it.fillAsc(makePivot(key, seekTrailer), true, false, firstBatch)
}

// SeekLT moves to the last entry whose user key is < key. No entry equals
// the pivot, so "less or equal" is "less".
func (it *iter) SeekLT(key []byte) bool {
	return it.fillDesc(makePivot(key, seekTrailer), true, false, firstBatch)
}

// Next moves to the next entry.
func (it *iter) Next() bool {
	if !it.valid {
		return false
	}
	if it.pos+1 < len(it.buf) {
		it.pos++
		return true
	}
	if it.hiEnd {
		it.valid = false
		return false
	}
	return it.fillAsc(it.buf[it.pos], true, true, nextLimit(it.limit))
}

// Prev moves to the previous entry.
func (it *iter) Prev() bool {
	if !it.valid {
		return false
	}
	if it.pos > 0 {
		it.pos--
		return true
	}
	if it.loEnd {
		it.valid = false
		return false
	}
	return it.fillDesc(it.buf[it.pos], true, true, nextLimit(it.limit))
}

// Valid reports whether the iterator is at an entry.
func (it *iter) Valid() bool { return it.valid }

// Key returns the current entry's key; the zero key when not valid. The user
// key aliases memtable memory and stays valid after the iterator moves.
func (it *iter) Key() base.InternalKey {
	if !it.valid {
		return base.InternalKey{}
	}
	e := &it.buf[it.pos]
	return base.InternalKey{UserKey: e.key(), Trailer: e.trailer}
}

// Value returns the current entry's value; nil when not valid.
func (it *iter) Value() []byte {
	if !it.valid {
		return nil
	}
	return it.buf[it.pos].value()
}

// Error returns nil: a memtable iterator cannot fail.
func (it *iter) Error() error { return nil }

// Close releases the iterator's clone of the tree. Positioning calls on a
// closed iterator return false.
func (it *iter) Close() error {
	it.tree = nil
	if it.bufp != nil {
		// buf never outgrows its batchSize array (refills stop at limit).
		// Clear the entries so the pool keeps no arena memory alive.
		clear(it.buf[:cap(it.buf)])
		*it.bufp = it.buf[:0]
		it.bufs.Put(it.bufp)
		it.bufp = nil
	}
	it.buf = nil
	it.valid = false
	return nil
}
