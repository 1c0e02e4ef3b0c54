package sst

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
)

// iterPos is where an iterator stands.
type iterPos int8

const (
	posNone   iterPos = iota // not positioned yet, or failed
	posValid                 // at an entry
	posBefore                // moved before the first entry
	posAfter                 // moved past the last entry
)

// iterLevel is one page on the iterator's path from the root, with the slot
// the path goes through. Only the leaf stays pinned (h, page); node levels
// keep their page number and slot and are read again, usually a buffer-pool
// hit, when the cursor crosses into another leaf. An iterator therefore
// holds one frame however deep the tree, so many iterators over many runs
// cannot exhaust a small pool.
type iterLevel struct {
	h      cache.Handle // the leaf's pin; zero at node levels
	page   []byte       // the leaf's bytes; nil at node levels
	prefix []byte       // the leaf's user-key prefix (compact pages)
	pn     uint32
	n      int // entries in the page
	idx    int // current slot
}

// Iter is a B+Tree cursor over a file's point entries; it implements
// base.InternalIterator. It remembers its path from the root down to the
// current leaf and pins that leaf, so an uncompressed inline Value aliases
// it; a key with a page prefix is assembled, and an overflowed or
// compressed value decoded, into buffers the iterator reuses. An Iter is
// not safe for concurrent use; Close it to unpin its pages.
type Iter struct {
	r *Reader
	// path[0] is the root, path[height] the leaf; depth levels are pinned.
	// It is pathBuf for trees of up to len(pathBuf) levels.
	path    []iterLevel
	pathBuf [4]iterLevel
	depth   int
	height  int
	pos     iterPos
	// touched keeps the result of touchPage, so the loads are not elided.
	touched byte

	key      base.InternalKey
	ent      leafEntry
	val      []byte
	valReady bool
	kbuf     []byte // user key of the current entry of a compact leaf
	vbuf     []byte // reused buffer for overflowed or decompressed values
	ovf      []byte // reused buffer for compressed overflowed values
	ra       window // pages the last readahead run covered
	// crossings counts the leaves entered by Next or Prev since the last
	// seek; readahead starts at readaheadAfter. raRuns counts the runs read
	// ahead since then: each is twice as long as the one before.
	crossings, raRuns int
	// nexts counts the moves by Next or Prev since the last seek, and
	// [vraLo, vraHi) are the stream pages the value-stream readahead last
	// covered (see readaheadValues).
	nexts        int
	vraLo, vraHi uint64
	// vraWindow is the pages the next value readahead reads: it starts
	// small after each seek and doubles as the scan goes on.
	vraWindow uint64
	// vh pins vpage, the value page vpn, while the iterator's values
	// come from it: a scan reads each value page once from the pool, and a
	// value within one page aliases it as an inline value aliases its leaf.
	vh    cache.Handle
	vpage []byte
	vpn   uint32

	err    error
	closed bool
}

var _ base.InternalIterator = (*Iter)(nil)

// newIter returns an unpositioned iterator over the file's point entries.
func (r *Reader) newIter() *Iter {
	it := new(Iter)
	r.InitIter(it)
	return it
}

// maxKeptBuffer is the largest key or value buffer a closed Iter keeps
// for InitIter to reuse; a larger one (a big value) is dropped at Close.
const maxKeptBuffer = 16 << 10

// InitIter makes it an unpositioned iterator over the file's point
// entries, as newIter does, reusing the buffers it kept. it must be zero
// or closed: a caller that opens many files one after another (a run of
// files, an iterator per lookup) then allocates nothing per file.
func (r *Reader) InitIter(it *Iter) {
	if it.r != nil && !it.closed {
		panic("sst: InitIter of an iterator that is not closed")
	}
	kbuf, vbuf := it.kbuf[:0], it.vbuf[:0]
	*it = Iter{r: r, height: r.meta.height, kbuf: kbuf, vbuf: vbuf}
	if n := it.height + 1; n <= len(it.pathBuf) {
		it.path = it.pathBuf[:n]
	} else {
		it.path = make([]iterLevel, n)
	}
	if r.closed.Load() {
		it.err = base.ErrClosed
	}
}

// releaseFrom unpins the path from level l down (and, from the root, the
// value page).
func (it *Iter) releaseFrom(l int) {
	if l == 0 {
		it.releaseValuePage()
	}
	for it.depth > l {
		it.depth--
		if it.path[it.depth].page != nil {
			it.path[it.depth].h.Release()
		}
		it.path[it.depth] = iterLevel{}
	}
}

// fail records err, unpins everything and leaves the iterator invalid.
func (it *Iter) fail(err error) bool {
	if it.err == nil {
		it.err = err
	}
	it.releaseFrom(0)
	it.pos = posNone
	it.key = base.InternalKey{}
	return false
}

// usable reports whether a positioning call may proceed.
func (it *Iter) usable() bool {
	if it.closed {
		if it.err == nil {
			it.err = base.ErrClosed
		}
		return false
	}
	return it.err == nil
}

// descent modes: how a page on the way down picks its slot.
const (
	modeFirst = iota
	modeLast
	modeSeekGE // node: last separator <= target; leaf: first entry >= target
	modeSeekLT // node: last separator < target; leaf: first entry >= target
)

// readahead directions for descend.
const (
	raNone     = iota // a seek: no readahead
	raForward         // Next crossed into the following leaf
	raBackward        // Prev crossed into the preceding leaf
)

// descend pins page pn as level l of the path and goes down to a leaf,
// choosing slots by mode. At the leaf, idx may be n (SeekGE: past the leaf)
// or the slot of the first entry >= target (SeekLT); the caller adjusts.
// ra says whether the iterator is scanning, and which way: the leaf is then
// read with readahead.
func (it *Iter) descend(pn uint32, l int, mode int, target base.InternalKey, ra int) error {
	r := it.r
	for {
		typ := pageTypeNode
		if l == it.height {
			typ = pageTypeLeaf
			if ra == raNone {
				it.crossings, it.raRuns = 0, 0
			} else if it.crossings++; it.crossings >= readaheadAfter {
				it.readahead(pn, ra == raForward)
			}
		}
		var h cache.Handle
		var page []byte
		var err error
		if typ == pageTypeNode {
			h, page, err = r.nodePage(pn)
		} else {
			h, page, err = r.readPage(pn, typ)
		}
		if err != nil {
			return err
		}
		n := pageCount(page)
		lv := &it.path[l]
		it.depth = l + 1
		if l == it.height {
			it.touchPage(page)
			prefix, _ := leafPrefix(page) // a loaded page was validated
			*lv = iterLevel{h: h, page: page, prefix: prefix, pn: pn, n: n}
			switch mode {
			case modeFirst:
				lv.idx = 0
			case modeLast:
				lv.idx = n - 1
			default:
				lv.idx = searchLeaf(page, n, target)
			}
			return nil
		}
		// A node level keeps only its page number and slot, not the pin.
		*lv = iterLevel{pn: pn, n: n}
		switch mode {
		case modeFirst:
			lv.idx = 0
		case modeLast:
			lv.idx = n - 1
		case modeSeekGE:
			lv.idx = searchNode(page, n, target, false)
		case modeSeekLT:
			lv.idx = searchNode(page, n, target, true)
		}
		child, err := r.nodeChild(page, pn, lv.idx, it.height-l-1)
		h.Release()
		if err != nil {
			return err
		}
		pn = child
		l++
	}
}

// touchPage loads one byte of every cache line of page. The loads do not
// depend on each other, so the processor has them all in flight at once,
// and the entries the iterator decodes next are in the cache.
func (it *Iter) touchPage(page []byte) {
	var x byte
	for i := 0; i < len(page); i += 64 {
		x |= page[i]
	}
	it.touched = x
}

// nodeChildAt reads node level l of the path again and returns the child
// under its current slot.
func (it *Iter) nodeChildAt(l int) (uint32, error) {
	lv := &it.path[l]
	h, page, err := it.r.nodePage(lv.pn)
	if err != nil {
		return 0, err
	}
	child, err := it.r.nodeChild(page, lv.pn, lv.idx, it.height-l-1)
	h.Release()
	return child, err
}

// settle decodes the entry the leaf level points at.
func (it *Iter) settle() bool {
	lv := &it.path[it.height]
	e := &it.ent
	if !e.decode(lv.page, lv.idx) || !e.pointKind() {
		return it.fail(it.r.corrupt(lv.pn, fmt.Errorf("slot %d: malformed entry", lv.idx)))
	}
	it.key.Trailer = e.trailer
	if it.r.globalSeq != 0 {
		it.key.Trailer = base.MakeTrailer(it.r.globalSeq, base.Kind(e.trailer&0xff))
	}
	if len(lv.prefix) == 0 {
		it.key.UserKey = e.suffix
	} else {
		it.kbuf = appendUserKey(it.kbuf[:0], lv.prefix, e.suffix)
		it.key.UserKey = it.kbuf
	}
	it.val = e.value
	it.valReady = !e.overflow && !e.compressed
	it.pos = posValid
	return true
}

// start unpins the old path before a fresh positioning; false when the
// iterator cannot move or the file has no point entries.
func (it *Iter) start() bool {
	it.releaseFrom(0)
	it.pos = posNone
	it.key = base.InternalKey{}
	it.ra = window{} // a new position starts a new access pattern
	it.nexts, it.vraLo, it.vraHi, it.vraWindow = 0, 0, 0, 0
	if !it.usable() {
		return false
	}
	return it.r.meta.entries > 0
}

// First moves to the first entry.
func (it *Iter) First() bool {
	if !it.start() {
		return false
	}
	if err := it.descend(it.r.meta.root, 0, modeFirst, base.InternalKey{}, raNone); err != nil {
		return it.fail(err)
	}
	return it.settle()
}

// Last moves to the last entry.
func (it *Iter) Last() bool {
	if !it.start() {
		return false
	}
	if err := it.descend(it.r.meta.root, 0, modeLast, base.InternalKey{}, raNone); err != nil {
		return it.fail(err)
	}
	return it.settle()
}

// SeekGE moves to the first entry whose user key is >= key.
func (it *Iter) SeekGE(key []byte) bool {
	if !it.start() {
		it.pos = posAfter
		return false
	}
	target := base.MakeInternalKey(key, base.MaxSeqNum, base.KindMax)
	if err := it.descend(it.r.meta.root, 0, modeSeekGE, target, raNone); err != nil {
		return it.fail(err)
	}
	if lv := &it.path[it.height]; lv.idx >= lv.n {
		return it.nextLeaf(raNone)
	}
	return it.settle()
}

// SeekLT moves to the last entry whose user key is < key.
func (it *Iter) SeekLT(key []byte) bool {
	if !it.start() {
		it.pos = posBefore
		return false
	}
	target := base.MakeInternalKey(key, base.MaxSeqNum, base.KindMax)
	if err := it.descend(it.r.meta.root, 0, modeSeekLT, target, raNone); err != nil {
		return it.fail(err)
	}
	lv := &it.path[it.height]
	lv.idx--
	if lv.idx < 0 {
		return it.prevLeaf(raNone)
	}
	return it.settle()
}

// Next moves to the next entry. After the iterator ran off the front it
// moves to the first entry.
func (it *Iter) Next() bool {
	if !it.usable() {
		return false
	}
	switch it.pos {
	case posBefore:
		return it.First()
	case posValid:
	default:
		return false
	}
	it.nexts++
	lv := &it.path[it.height]
	if lv.idx+1 < lv.n {
		lv.idx++
		return it.settle()
	}
	return it.nextLeaf(raForward)
}

// Prev moves to the previous entry. After the iterator ran off the end it
// moves to the last entry.
func (it *Iter) Prev() bool {
	if !it.usable() {
		return false
	}
	switch it.pos {
	case posAfter:
		return it.Last()
	case posValid:
	default:
		return false
	}
	it.nexts++
	lv := &it.path[it.height]
	if lv.idx > 0 {
		lv.idx--
		return it.settle()
	}
	return it.prevLeaf(raBackward)
}

// nextLeaf moves to the first entry of the leaf after the current one: up
// the path to the deepest node with a next slot, then down its first
// children. ra is raForward when Next got here, raNone after a seek.
func (it *Iter) nextLeaf(ra int) bool {
	if it.r.meta.overflowPages == 0 {
		return it.adjacentLeaf(1, ra)
	}
	for l := it.height - 1; l >= 0; l-- {
		lv := &it.path[l]
		if lv.idx+1 >= lv.n {
			continue
		}
		it.releaseFrom(l + 1)
		lv.idx++
		child, err := it.nodeChildAt(l)
		if err != nil {
			return it.fail(err)
		}
		if err := it.descend(child, l+1, modeFirst, base.InternalKey{}, ra); err != nil {
			return it.fail(err)
		}
		return it.settle()
	}
	it.releaseFrom(0)
	it.pos = posAfter
	it.key = base.InternalKey{}
	return false
}

// prevLeaf moves to the last entry of the leaf before the current one. ra
// is raBackward when Prev got here, raNone after a seek.
func (it *Iter) prevLeaf(ra int) bool {
	if it.r.meta.overflowPages == 0 {
		return it.adjacentLeaf(-1, ra)
	}
	for l := it.height - 1; l >= 0; l-- {
		lv := &it.path[l]
		if lv.idx == 0 {
			continue
		}
		it.releaseFrom(l + 1)
		lv.idx--
		child, err := it.nodeChildAt(l)
		if err != nil {
			return it.fail(err)
		}
		if err := it.descend(child, l+1, modeLast, base.InternalKey{}, ra); err != nil {
			return it.fail(err)
		}
		return it.settle()
	}
	it.releaseFrom(0)
	it.pos = posBefore
	it.key = base.InternalKey{}
	return false
}

// adjacentLeaf moves to the first entry of the next leaf (dir 1) or the
// last of the previous one (dir -1) in a file without overflow pages, whose
// leaves are exactly pages 1..L in key order: the neighbour is the next or
// previous page, so the node levels are not read again. They are left as
// the last descent set them, which is fine: in such a file only seeks use
// them, and a seek rebuilds the path from the root.
func (it *Iter) adjacentLeaf(dir int, ra int) bool {
	pn := int64(it.path[it.height].pn) + int64(dir)
	if pn < 1 || pn >= 1+int64(it.r.meta.leafPages) {
		it.releaseFrom(0)
		it.pos = posAfter
		if dir < 0 {
			it.pos = posBefore
		}
		it.key = base.InternalKey{}
		return false
	}
	it.releaseFrom(it.height)
	mode := modeFirst
	if dir < 0 {
		mode = modeLast
	}
	if err := it.descend(uint32(pn), it.height, mode, base.InternalKey{}, ra); err != nil {
		return it.fail(err)
	}
	return it.settle()
}

// Valid reports whether the iterator is at an entry.
func (it *Iter) Valid() bool { return it.pos == posValid }

// Key returns the current key; it aliases the pinned leaf page or the
// iterator's buffer and is valid until the next positioning call or Close.
func (it *Iter) Key() base.InternalKey { return it.key }

// Value returns the current value, valid until the next positioning call or
// Close. An overflowed value is read on the first call at each position;
// if that read fails, Value returns nil, the iterator becomes invalid and
// Error reports the failure.
func (it *Iter) Value() []byte {
	if it.pos != posValid {
		return nil
	}
	if !it.valReady {
		lv := &it.path[it.height]
		if it.ent.ref && it.nexts >= valueReadaheadAfter && !it.r.readsAround(&it.ent) {
			it.readaheadValues(&it.ent)
		}
		if it.ent.ref {
			if v, ok := it.valueInPage(); ok {
				return v
			}
			if it.err != nil {
				return nil
			}
		}
		v, err := it.r.appendValue(it.vbuf[:0], &it.ent, lv.pn, lv.idx, &it.ovf)
		it.vbuf = v
		if err != nil {
			it.fail(err)
			return nil
		}
		it.val = v
		it.valReady = true
	}
	return it.val
}

// valueInPage returns the current value when the stream holds it within
// one value page: from that page, pinned while the following values come
// from it too. ok is false for a value over two pages or more, and on an
// error (recorded).
func (it *Iter) valueInPage() (_ []byte, ok bool) {
	r, e := it.r, &it.ent
	c := uint64(payloadCapacity(r.meta.pageSize))
	i, o := e.valueOff/c, int(e.valueOff%c)
	if o+e.valueLen > int(c) || i >= uint64(len(r.valueDir)) {
		return nil, false
	}
	pn := r.valueDir[i]
	if it.vpage == nil || it.vpn != pn {
		it.releaseValuePage()
		h, page, err := r.readPage(pn, pageTypeValue)
		if err != nil {
			it.fail(err)
			return nil, false
		}
		if err := r.checkValuePage(page, i); err != nil {
			h.Release()
			it.fail(err)
			return nil, false
		}
		it.vh, it.vpage, it.vpn = h, page, pn
	}
	if o+e.valueLen > pageCount(it.vpage) {
		it.fail(r.corrupt(pn, fmt.Errorf("value of %d bytes at %d past the page's %d", e.valueLen, o, pageCount(it.vpage))))
		return nil, false
	}
	stored := it.vpage[pageHeaderSize+o : pageHeaderSize+o+e.valueLen : pageHeaderSize+o+e.valueLen]
	if e.compressed {
		out, err := appendDecompressed(it.vbuf[:0], stored)
		if err != nil {
			lv := &it.path[it.height]
			it.fail(r.corrupt(lv.pn, fmt.Errorf("slot %d: %w", lv.idx, err)))
			return nil, false
		}
		it.vbuf, stored = out, out
	}
	it.val, it.valReady = stored, true
	return stored, true
}

// releaseValuePage unpins the value page, if one is pinned.
func (it *Iter) releaseValuePage() {
	if it.vpage != nil {
		it.vh.Release()
		it.vh, it.vpage, it.vpn = cache.Handle{}, nil, 0
	}
}

// StoredValue returns the current value as the file stores it when that is
// a compressed block held inline: the block (aliasing the pinned leaf,
// valid until the next positioning call) and true. For any other value it
// returns nil and false, and the caller uses Value. Merges pass such
// blocks to Writer.AddCompressed.
func (it *Iter) StoredValue() ([]byte, bool) {
	if it.pos != posValid || !it.ent.compressed || it.ent.overflow {
		return nil, false
	}
	return it.ent.value, true
}

// Error returns the first error the iterator met.
func (it *Iter) Error() error { return it.err }

// Close unpins the iterator's pages and returns Error(). Positioning calls
// after Close fail with base.ErrClosed; a second Close only returns Error().
func (it *Iter) Close() error {
	if it.closed {
		return it.err
	}
	err := it.err
	it.releaseFrom(0)
	it.pos = posNone
	it.key = base.InternalKey{}
	it.closed = true
	it.r = nil // a closed Iter kept for InitIter keeps no Reader alive
	it.ovf = nil
	if cap(it.kbuf) > maxKeptBuffer {
		it.kbuf = nil
	}
	if cap(it.vbuf) > maxKeptBuffer {
		it.vbuf = nil
	}
	return err
}

// valueReadaheadAfter is the number of moves by Next or Prev since a seek
// after which reading a value from the value stream reads ahead: a short
// scan reads its few values page by page.
const valueReadaheadAfter = 8

// valueReadaheadFirst and valueReadaheadBytes bound how much of the value
// stream a scan reads ahead at a time: the first readahead after a seek
// reads the smaller, each next one twice the one before, up to the
// larger. A short scan (YCSB's E reads 1 to 100 records) then reads little
// it does not use, a long one soon reads in large runs.
const (
	valueReadaheadFirst = 32 << 10
	valueReadaheadBytes = 256 << 10
)

// readaheadValues reads ahead the value stream around the value of e for a
// scan: forward from e's first page, valueReadaheadBytes at a time, the
// pages that are consecutive in the file with one read each; backward the
// same way. A scan's values lie in stream order (a reverse scan's in
// reverse), so the pages read ahead are the next ones it asks for.
func (it *Iter) readaheadValues(e *leafEntry) {
	r := it.r
	if r.readahead <= 0 || len(r.valueDir) == 0 {
		return
	}
	c := uint64(payloadCapacity(r.meta.pageSize))
	first, last := e.valueOff/c, (e.valueOff+uint64(max(e.valueLen, 1))-1)/c
	if last >= uint64(len(r.valueDir)) {
		return // a bad reference: the read that follows reports it
	}
	if it.vraHi > it.vraLo && first >= it.vraLo && last < it.vraHi {
		return // read ahead already
	}
	if it.vraWindow == 0 {
		it.vraWindow = uint64(max(2, valueReadaheadFirst/r.meta.pageSize))
	} else {
		it.vraWindow = min(2*it.vraWindow, uint64(max(2, valueReadaheadBytes/r.meta.pageSize)))
	}
	window := it.vraWindow
	n := uint64(len(r.valueDir))
	var lo, hi uint64 // stream pages [lo, hi) to read ahead
	switch {
	case it.vraHi > it.vraLo && first < it.vraLo:
		// Backward: the window ending at the value's last page.
		hi = last + 1
		lo = hi - min(hi, max(window, last+1-first))
	default:
		lo, hi = first, min(max(last+1, first+window), n)
	}
	it.vraLo, it.vraHi = lo, hi
	for i := lo; i < hi; {
		pn := r.valueDir[i]
		k := uint64(1)
		for i+k < hi && r.valueDir[i+k] == pn+uint32(k) {
			k++
		}
		// Prefetch stops at a resident page (the leaves' readahead may
		// have brought some in): go on past it.
		for start, end := pn, pn+uint32(k); start < end; {
			got, err := r.prefetch(start, int(end-start), pageTypeValue)
			if err != nil {
				break
			}
			start += max(uint32(got), 1)
		}
		i += k
	}
}
