package db

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/merge"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/memtable"
)

// IterOptions bounds an iterator. Nil bounds are unbounded.
type IterOptions struct {
	// LowerBound is the inclusive lower bound.
	LowerBound []byte
	// UpperBound is the exclusive upper bound.
	UpperBound []byte
}

// Iterator walks the live keys of a consistent view of the database in key
// order, in either direction. Key and Value return slices valid until the
// next positioning call; copy them to keep them. An Iterator is not safe
// for concurrent use; close it when done (it pins the files it reads).
//
//	it := d.Scan(start, end)
//	for it.Next() { use(it.Key(), it.Value()) }
//	if err := it.Close(); err != nil { ... }
type Iterator struct {
	d      *DB
	excess int // runs beyond one per level, charged per positioning
	levels int // levels beyond the first, charged per positioning
	rs     *readState
	seq    base.SeqNum
	lower  []byte
	upper  []byte
	mi     *merge.Iterator // &parts.merge while open
	parts  *iterParts      // nil once closed
	valid  bool
	dir    int // +1 forward, -1 reverse, 0 unpositioned
	key    []byte
	value  []byte // aliases mi in forward mode, valBuf in reverse
	// tombs holds the range tombstones of the sources, a set per source
	// that has any (each cached by its memtable or table: an iterator
	// fragments nothing).
	tombs  []*rangedel.Set
	valBuf []byte
	// ops gathers a key's merge operands going forward.
	ops    lsm.Operands
	err    error
	closed bool
}

// Scan returns an iterator over the keys in [start, end); a nil bound is
// unbounded. Errors surface in the iterator's Err.
func (d *DB) Scan(start, end []byte) *Iterator {
	return d.NewIter(&IterOptions{LowerBound: start, UpperBound: end})
}

// NewIter returns an unpositioned iterator; nil o means unbounded. Next on
// an unpositioned iterator moves to the first key, so `for it.Next()` works.
func (d *DB) NewIter(o *IterOptions) *Iterator {
	rs := d.loadReadState()
	if rs == nil {
		return &Iterator{err: ErrClosed}
	}
	return d.newIterAt(rs, base.SeqNum(d.visibleSeq.Load()), o)
}

// iterParts is the memory an Iterator uses beyond its own struct: the
// merging iterator, a cursor per run with its file iterator, and the key, value and
// tombstone buffers. Close hands it back to the DB's pool and the next
// iterator reuses it, so an iterator per lookup (a seek for the closest
// key, say) allocates little more than itself. The Iterator struct is not
// reused: a closed one keeps reporting ErrClosed.
type iterParts struct {
	merge    merge.Iterator
	children []base.InternalIterator
	runs     []runIter
	tombs    []*rangedel.Set
	key      []byte
	valBuf   []byte
}

// maxPooledRuns bounds the run cursors a pooled iterParts keeps: a tree
// rarely has more runs, and a stray giant one should not stay alive.
const maxPooledRuns = 64

// maxPooledBuffer is the largest key or value buffer pooled iterator
// memory keeps.
const maxPooledBuffer = 16 << 10

// getIterParts returns pooled iterator memory, or new.
func (d *DB) getIterParts() *iterParts {
	if p, ok := d.iterPool.Get().(*iterParts); ok {
		return p
	}
	return new(iterParts)
}

// putIterParts returns p, whose merging iterator is closed, to the pool, dropping its
// references to the closed view.
func (d *DB) putIterParts(p *iterParts) {
	if len(p.runs) > maxPooledRuns {
		return
	}
	clear(p.children)
	p.children = p.children[:0]
	for i := range p.runs {
		r := &p.runs[i]
		r.tables, r.files = nil, nil
	}
	clear(p.tombs)
	p.tombs = p.tombs[:0]
	if cap(p.key) > maxPooledBuffer {
		p.key = nil
	}
	if cap(p.valBuf) > maxPooledBuffer {
		p.valBuf = nil
	}
	d.iterPool.Put(p)
}

// runCount returns the runs a view holds.
func runCount(v *lsm.Version) int {
	n := 0
	for _, runs := range v.Levels {
		n += len(runs)
	}
	return n
}

func (d *DB) newIterAt(rs *readState, seq base.SeqNum, o *IterOptions) *Iterator {
	p := d.getIterParts()
	it := &Iterator{d: d, excess: rs.excess, levels: rs.levels, rs: rs, seq: seq, parts: p, key: p.key[:0], valBuf: p.valBuf[:0]}
	if o != nil {
		// Copy the bounds, keeping nil (unbounded) apart from empty.
		if o.LowerBound != nil {
			it.lower = append([]byte{}, o.LowerBound...)
		}
		if o.UpperBound != nil {
			it.upper = append([]byte{}, o.UpperBound...)
		}
	}
	// The run cursors are addressed by the merging iterator, so the slice must not
	// move once they are handed out.
	if n := runCount(rs.v); cap(p.runs) < n {
		p.runs = make([]runIter, 0, n)
	}
	p.runs = p.runs[:0]
	tombs := p.tombs[:0]
	children := append(p.children[:0], rs.mem.NewIter())
	if rs.mem.HasRangeDels() {
		tombs = append(tombs, rs.mem.RangeDelSet())
	}
	for _, m := range rs.imms {
		children = append(children, m.NewIter())
		if m.HasRangeDels() {
			tombs = append(tombs, m.RangeDelSet())
		}
	}
	for level := range rs.v.Levels {
		for _, r := range rs.v.Levels[level] {
			if it.upper != nil && bytes.Compare(r.Files[0].Smallest.UserKey, it.upper) >= 0 {
				continue
			}
			if it.lower != nil && bytes.Compare(r.Files[len(r.Files)-1].Largest.UserKey, it.lower) < 0 {
				continue
			}
			p.runs = p.runs[:len(p.runs)+1]
			ri := &p.runs[len(p.runs)-1]
			ri.init(d.tables, r)
			children = append(children, ri)
			for _, f := range r.Files {
				if (it.upper != nil && bytes.Compare(f.Smallest.UserKey, it.upper) >= 0) ||
					(it.lower != nil && bytes.Compare(f.Largest.UserKey, it.lower) < 0) {
					continue
				}
				e, err := d.tables.entry(f)
				if err != nil {
					it.err = d.readErr(err)
					break
				}
				if !e.rangeDels.Empty() {
					tombs = append(tombs, e.rangeDels)
				}
			}
		}
	}
	p.children, p.tombs = children, tombs
	it.tombs = tombs
	p.merge.Init(children)
	it.mi = &p.merge
	return it
}

// First moves to the first key.
func (it *Iterator) First() bool {
	if !it.usable() {
		return false
	}
	it.dir = 1
	it.d.noteReadRuns(it.excess, it.levels)
	if it.lower != nil {
		it.mi.SeekGE(it.lower)
	} else {
		it.mi.First()
	}
	return it.findNext()
}

// Last moves to the last key.
func (it *Iterator) Last() bool {
	if !it.usable() {
		return false
	}
	it.dir = -1
	it.d.noteReadRuns(it.excess, it.levels)
	if it.upper != nil {
		it.mi.SeekLT(it.upper)
	} else {
		it.mi.Last()
	}
	return it.findPrev()
}

// SeekGE moves to the first key >= key.
func (it *Iterator) SeekGE(key []byte) bool {
	if !it.usable() {
		return false
	}
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	it.dir = 1
	it.d.noteReadRuns(it.excess, it.levels)
	it.mi.SeekGE(key)
	return it.findNext()
}

// SeekLT moves to the last key < key. With Prev and Next from there, it
// answers "closest key to x" queries.
func (it *Iterator) SeekLT(key []byte) bool {
	if !it.usable() {
		return false
	}
	if it.upper != nil && bytes.Compare(key, it.upper) > 0 {
		key = it.upper
	}
	it.dir = -1
	it.d.noteReadRuns(it.excess, it.levels)
	it.mi.SeekLT(key)
	return it.findPrev()
}

// Next moves to the next key; on an unpositioned iterator, to the first.
func (it *Iterator) Next() bool {
	if !it.usable() {
		return false
	}
	switch it.dir {
	case 0:
		return it.First()
	case -1:
		if !it.valid {
			// Walked off the front: the next key is the first.
			return it.First()
		}
		it.dir = 1
		it.mi.SeekGE(it.key)
		it.skipCurrentKey()
		return it.findNext()
	}
	if !it.valid {
		return false
	}
	it.skipCurrentKey()
	return it.findNext()
}

// Prev moves to the previous key; on an unpositioned iterator, to the last.
func (it *Iterator) Prev() bool {
	if !it.usable() {
		return false
	}
	switch it.dir {
	case 0:
		return it.Last()
	case 1:
		if !it.valid {
			return it.Last()
		}
		it.dir = -1
		it.mi.SeekLT(it.key)
		return it.findPrev()
	}
	if !it.valid {
		return false
	}
	return it.findPrev()
}

// skipCurrentKey moves mi past every version of it.key.
func (it *Iterator) skipCurrentKey() {
	for it.mi.Valid() && bytes.Equal(it.mi.Key().UserKey, it.key) {
		it.mi.Next()
	}
}

// findNext moves forward from mi's position to the newest visible version
// of the next live key.
func (it *Iterator) findNext() bool {
	it.valid = false
	for it.mi.Valid() {
		k := it.mi.Key()
		if it.upper != nil && bytes.Compare(k.UserKey, it.upper) >= 0 {
			break
		}
		if k.SeqNum() > it.seq {
			it.mi.Next()
			continue
		}
		it.key = append(it.key[:0], k.UserKey...)
		if k.Kind() == base.KindDelete {
			it.skipCurrentKey()
			continue
		}
		if seq, start, end := it.covering(k); seq > 0 {
			// A range tombstone deletes the key. When the run the entry
			// comes from holds nothing as new as the tombstone up to the
			// end of its fragment, that whole stretch of the run is
			// deleted: skip it with one seek rather than entry by entry
			// (a window evicted with DeleteRange, not yet compacted away).
			if r, ok := it.mi.Top().(*runIter); ok && r.olderThan(seq, start, end, false) {
				it.mi.SeekTopGE(end)
			} else {
				it.skipCurrentKey()
			}
			continue
		}
		if k.Kind() == base.KindMerge {
			return it.mergeForward()
		}
		it.value = it.mi.Value()
		it.valid = true
		return true
	}
	return it.finish()
}

// mergeForward folds the merge operand mi is at, the newest visible
// version of it.key, with the older versions after it: operands down to
// a value, a deletion, a covering range tombstone or the key's end. mi is
// left inside or just past the key's versions.
func (it *Iterator) mergeForward() bool {
	it.ops.Reset()
	it.ops.Add(it.mi.Value())
	var existing []byte
	for it.mi.Next(); it.mi.Valid(); it.mi.Next() {
		k := it.mi.Key()
		if !bytes.Equal(k.UserKey, it.key) {
			break
		}
		if k.SeqNum() > it.seq {
			continue
		}
		if k.Kind() == base.KindDelete {
			break
		}
		if seq, _, _ := it.covering(k); seq > 0 {
			break
		}
		if k.Kind() == base.KindSet {
			existing = ownedCopy(it.mi.Value())
			break
		}
		it.ops.Add(it.mi.Value())
	}
	if err := it.mi.Error(); err != nil {
		return it.finish()
	}
	if it.d.opts.Merge == nil {
		it.err = ErrNoMergeOperator
		return false
	}
	v, err := it.ops.Fold(it.d.opts.Merge, it.key, existing)
	if err != nil {
		it.err = fmt.Errorf("strata: merge operator on key %q: %w", it.key, err)
		return false
	}
	it.value = v
	it.valid = true
	return true
}

// findPrev moves backward from mi's position to the newest visible version
// of the previous live key. mi ends just before that key's versions.
func (it *Iterator) findPrev() bool {
	it.valid = false
	kind := base.KindDelete
	for it.mi.Valid() {
		k := it.mi.Key()
		if it.lower != nil && bytes.Compare(k.UserKey, it.lower) < 0 {
			break
		}
		if k.SeqNum() <= it.seq {
			if kind != base.KindDelete && bytes.Compare(k.UserKey, it.key) < 0 {
				break
			}
			newKind := k.Kind()
			if seq, start, end := it.covering(k); seq > 0 {
				newKind = base.KindDelete
				if r, ok := it.mi.Top().(*runIter); ok && kind == base.KindDelete && r.olderThan(seq, start, end, true) {
					// The reverse of findNext's skip: nothing of the run
					// back to the fragment's start is as new as the
					// tombstone. (Only with no key being assembled: a
					// newer version of it may follow from another run.)
					it.key = it.key[:0]
					it.mi.SeekTopLT(start)
					continue
				}
			}
			switch newKind {
			case base.KindDelete:
				it.key = it.key[:0]
			case base.KindMerge:
				// Going backward a key's versions come oldest first: apply
				// the operand to what they made so far (nothing after a
				// deletion; kind is not a deletion only within this key).
				var existing []byte
				if kind != base.KindDelete {
					existing = it.valBuf
				}
				operand := it.mi.Value()
				v, err := applyOperand(it.d.opts.Merge, k.UserKey, existing, operand[:len(operand):len(operand)])
				if err != nil {
					it.err = err
					return false
				}
				it.key = append(it.key[:0], k.UserKey...)
				// The operator may return the operand, which is the
				// memtable's or a cached page's: keep a copy the
				// iterator owns (a no-op move when v is valBuf).
				it.valBuf = append(it.valBuf[:0], v...)
				if it.valBuf == nil {
					it.valBuf = []byte{} // an empty value, not "none"
				}
				newKind = base.KindSet
			default:
				it.key = append(it.key[:0], k.UserKey...)
				it.valBuf = append(it.valBuf[:0], it.mi.Value()...)
				if it.valBuf == nil {
					it.valBuf = []byte{} // a value, not "none", to an operator
				}
			}
			kind = newKind
		}
		it.mi.Prev()
	}
	if kind != base.KindDelete {
		it.value = it.valBuf
		it.valid = true
		return true
	}
	return it.finish()
}

// covering returns the newest seqnum of a range tombstone visible to the
// iterator that deletes k, and the stretch around k, [start, end), it
// deletes at that seqnum; 0 if none deletes k.
func (it *Iterator) covering(k base.InternalKey) (seq base.SeqNum, start, end []byte) {
	for _, s := range it.tombs {
		if c, cs, ce := s.Covering(k.UserKey, it.seq); c > k.SeqNum() && c > seq {
			seq, start, end = c, cs, ce
		}
	}
	return seq, start, end
}

// appendMemTombstones appends m's range tombstones to ts.
func appendMemTombstones(ts []rangedel.Tombstone, m *memtable.Memtable) []rangedel.Tombstone {
	if !m.HasRangeDels() {
		return ts
	}
	for _, t := range m.RangeDels() {
		ts = append(ts, rangedel.Tombstone{Start: t.Start, End: t.End, Seq: t.Seq})
	}
	return ts
}

// finish records an error from mi, if any, and leaves the iterator invalid.
func (it *Iterator) finish() bool {
	if err := it.mi.Error(); err != nil && it.err == nil {
		it.err = it.d.readErr(err)
	}
	return false
}

func (it *Iterator) usable() bool {
	if it.closed {
		it.err = ErrClosed
		it.valid = false
	}
	if it.err != nil {
		it.valid = false
		return false
	}
	return true
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.valid && it.err == nil }

// Key returns the current key, valid until the next move.
func (it *Iterator) Key() []byte {
	if !it.Valid() {
		return nil
	}
	return it.key
}

// Value returns the current value, valid until the next move.
func (it *Iterator) Value() []byte {
	if !it.Valid() {
		return nil
	}
	return it.value
}

// Err returns the first error the iterator met.
func (it *Iterator) Err() error {
	if it.err == ErrClosed && it.closed {
		return nil
	}
	return it.err
}

// Close releases the iterator's view and returns its error, if any.
// Closing twice returns ErrClosed.
func (it *Iterator) Close() error {
	if it.closed {
		return ErrClosed
	}
	it.closed = true
	it.valid = false
	var err error
	if it.mi != nil {
		err = it.d.readErr(it.mi.Close())
		it.mi = nil
	}
	if p := it.parts; p != nil {
		// The buffers go back with the parts; the caller may no longer
		// use Key or Value.
		p.key, p.valBuf = it.key[:0], it.valBuf[:0]
		it.key, it.value, it.valBuf, it.tombs = nil, nil, nil, nil
		it.parts = nil
		it.d.putIterParts(p)
	}
	if it.rs != nil {
		it.rs.unref()
		it.rs = nil
	}
	if it.err != nil {
		return it.err
	}
	return err
}
