// Package merge combines several internal iterators into one ordered stream
// with a binary heap. It yields every entry of every input (it does not hide
// shadowed versions); the db iterator and compactions decide visibility.
package merge

import (
	"github.com/seed-d6fe07da/strata/internal/base"
)

// Iterator merges child iterators in base.CompareInternal order, in either
// direction. Ties between children (the same internal key in two inputs)
// order by child index, so callers should pass children newest first.
type Iterator struct {
	children []base.InternalIterator
	// keys[i] is children[i].Key() while child i is in the heap, read
	// again only when that child moves: comparisons then cost no
	// interface calls.
	keys []base.InternalKey
	heap []int // indexes into children, a min-heap forward or max-heap in reverse
	// second is the heap position (1 or 2) of the top's smaller child,
	// or -1 when not known. Only the top moves between rebuilds, so it
	// stays right while the top stays on top: a step that does not change
	// the top costs one comparison instead of two.
	second  int
	reverse bool
	err     error
}

// NewIterator returns a merging iterator over children. It takes ownership:
// Close closes them all.
func NewIterator(children ...base.InternalIterator) *Iterator {
	m := new(Iterator)
	m.Init(children)
	return m
}

// Init makes m a merging iterator over children, as NewIterator does,
// reusing the memory of a closed (or zero) m.
func (m *Iterator) Init(children []base.InternalIterator) {
	keys, heap := m.keys, m.heap
	if cap(keys) < len(children) {
		keys = make([]base.InternalKey, len(children))
	}
	if cap(heap) < len(children) {
		heap = make([]int, 0, len(children))
	}
	*m = Iterator{children: children, keys: keys[:len(children)], heap: heap[:0], second: -1}
}

func (m *Iterator) less(i, j int) bool {
	c := base.CompareInternal(m.keys[m.heap[i]], m.keys[m.heap[j]])
	if c == 0 {
		return m.heap[i] < m.heap[j]
	}
	if m.reverse {
		return c > 0
	}
	return c < 0
}

func (m *Iterator) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && m.less(r, l) {
			j = r
		}
		if !m.less(j, i) {
			return
		}
		m.heap[i], m.heap[j] = m.heap[j], m.heap[i]
		i = j
	}
}

// rebuild collects the valid children into the heap; ok is each child's
// positioning result.
func (m *Iterator) rebuild(reverse bool) bool {
	m.reverse = reverse
	m.second = -1
	m.heap = m.heap[:0]
	for i, c := range m.children {
		if c.Valid() {
			m.heap = append(m.heap, i)
			m.keys[i] = c.Key()
		} else if err := c.Error(); err != nil && m.err == nil {
			m.err = err
		}
	}
	if m.err != nil {
		m.heap = m.heap[:0]
		return false
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return len(m.heap) > 0
}

// First moves to the smallest entry.
func (m *Iterator) First() bool {
	for _, c := range m.children {
		c.First()
	}
	return m.rebuild(false)
}

// Last moves to the largest entry.
func (m *Iterator) Last() bool {
	for _, c := range m.children {
		c.Last()
	}
	return m.rebuild(true)
}

// SeekGE moves to the first entry whose user key is >= key.
func (m *Iterator) SeekGE(key []byte) bool {
	for _, c := range m.children {
		c.SeekGE(key)
	}
	return m.rebuild(false)
}

// SeekLT moves to the last entry whose user key is < key.
func (m *Iterator) SeekLT(key []byte) bool {
	for _, c := range m.children {
		c.SeekLT(key)
	}
	return m.rebuild(true)
}

// Next moves to the next entry in key order.
func (m *Iterator) Next() bool {
	if len(m.heap) == 0 {
		return false
	}
	if m.reverse {
		m.switchDirection(false)
		return len(m.heap) > 0
	}
	m.step(m.children[m.heap[0]].Next())
	return len(m.heap) > 0
}

// Prev moves to the previous entry in key order.
func (m *Iterator) Prev() bool {
	if len(m.heap) == 0 {
		return false
	}
	if !m.reverse {
		m.switchDirection(true)
		return len(m.heap) > 0
	}
	m.step(m.children[m.heap[0]].Prev())
	return len(m.heap) > 0
}

// step repairs the heap after its top child moved; ok is whether it is still
// valid.
func (m *Iterator) step(ok bool) {
	if ok {
		m.keys[m.heap[0]] = m.children[m.heap[0]].Key()
		m.fixTop()
		return
	}
	m.second = -1
	top := m.children[m.heap[0]]
	if err := top.Error(); err != nil {
		m.err = err
		m.heap = m.heap[:0]
		return
	}
	last := len(m.heap) - 1
	m.heap[0] = m.heap[last]
	m.heap = m.heap[:last]
	if last > 0 {
		m.down(0)
	}
}

// fixTop restores the heap after the top's key moved on, as down(0)
// would, comparing the top with its smaller child only when that is known
// (second).
func (m *Iterator) fixTop() {
	n := len(m.heap)
	if n < 2 {
		return
	}
	j := m.second
	if j < 0 {
		j = 1
		if n > 2 && m.less(2, 1) {
			j = 2
		}
		m.second = j
	}
	if !m.less(j, 0) {
		return
	}
	m.second = -1
	m.heap[0], m.heap[j] = m.heap[j], m.heap[0]
	m.down(j)
}

// switchDirection repositions every child on the other side of the current
// key and makes the next step in the new direction.
func (m *Iterator) switchDirection(reverse bool) {
	cur := m.children[m.heap[0]]
	key := cur.Key().Clone()
	curIdx := m.heap[0]
	for i, c := range m.children {
		if i == curIdx {
			continue
		}
		// Move c to the first entry >= key (forward) or > key (reverse),
		// then, in reverse, step back once: the last entry < key.
		c.SeekGE(key.UserKey)
		for c.Valid() {
			cmp := base.CompareInternal(c.Key(), key)
			if cmp > 0 || (reverse && cmp == 0) {
				break
			}
			c.Next()
		}
		if reverse && c.Error() == nil {
			if c.Valid() {
				c.Prev()
			} else {
				c.Last()
			}
		}
	}
	if reverse {
		cur.Prev()
	} else {
		cur.Next()
	}
	m.rebuild(reverse)
}

// Top returns the child the current entry comes from.
func (m *Iterator) Top() base.InternalIterator { return m.children[m.heap[0]] }

// SeekTopGE moves the child the current entry comes from to its first
// entry at or after key, which must not come before that entry, and
// repairs the heap; the other children stay where they are. Forward only:
// it skips a stretch of one child, as the db iterator does over entries a
// range tombstone deletes. SeekTopLT is its reverse.
func (m *Iterator) SeekTopGE(key []byte) {
	m.step(m.children[m.heap[0]].SeekGE(key))
}

// SeekTopLT is SeekTopGE in reverse: it moves the child the current entry
// comes from to its last entry before key, which must not come after that
// entry.
func (m *Iterator) SeekTopLT(key []byte) {
	m.step(m.children[m.heap[0]].SeekLT(key))
}

// Valid reports whether the iterator is at an entry.
func (m *Iterator) Valid() bool { return len(m.heap) > 0 }

// Key returns the current key.
func (m *Iterator) Key() base.InternalKey { return m.keys[m.heap[0]] }

// Value returns the current value.
func (m *Iterator) Value() []byte { return m.children[m.heap[0]].Value() }

// StoredValue forwards to the current child when it is a
// base.StoredValuer.
func (m *Iterator) StoredValue() ([]byte, bool) {
	if sv, ok := m.children[m.heap[0]].(base.StoredValuer); ok {
		return sv.StoredValue()
	}
	return nil, false
}

// Error returns the first error of any child.
func (m *Iterator) Error() error { return m.err }

// Close closes every child and returns the first error.
func (m *Iterator) Close() error {
	err := m.err
	for _, c := range m.children {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	m.children = nil
	clear(m.keys) // drop references into the children's pages and buffers
	m.heap = m.heap[:0]
	return err
}
