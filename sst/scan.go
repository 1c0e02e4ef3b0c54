package sst

import (
	"errors"
	"fmt"
	"slices"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// # Scans that bypass the buffer pool
//
// A merge reads every entry of its input files once, first to last. Read
// through the buffer pool, it would need frames that readers may hold
// pinned (an application that keeps more iterators open than the pool has
// frames would then stop merges, and with them writes), and it would push
// the readers' pages out for pages nobody reads again. RocksDB's
// compactions read with the block cache bypassed for the same reasons.
//
// ScanIter therefore reads the leaf section, pages 1 .. leafEnd-1, in
// chunks of consecutive pages with one read each into a buffer of its own,
// validates each page as the pool's loader would, and decodes the leaves
// in order. In a version-4 file it steps over the value pages the
// directory lists without reading them, and a cursor of its own reads the
// value stream, in stream order, in chunks of its pages (those consecutive
// in the file with one read each): every page is read once. Before version
// 4, an overflowed value's pages come just before the leaf that references
// them; a chunk starts at the first overflow page after the last leaf read,
// so they are usually in the buffer, and are read from the file otherwise.

// defaultScanChunk is the bytes a ScanIter reads at a time.
const defaultScanChunk = 256 << 10

// errScanForwardOnly is the error of a ScanIter asked to seek or go back.
var errScanForwardOnly = errors.New("sst: a scan iterator moves forward only")

// ScanIter reads a file's point entries first to last without the buffer
// pool; it implements base.InternalIterator, but only First and Next move
// it (the other positioning calls fail). Key and Value are valid until the
// next move. It is not safe for concurrent use.
type ScanIter struct {
	r     *Reader
	chunk int // pages per read
	// storedSeqs keeps the seqnums as the file stores them, ignoring the
	// Reader's GlobalSeq (Verify checks the bytes on disk).
	storedSeqs bool

	buf     []byte // pages [first, first+bufPages) of the file
	first   uint32
	bufPage int
	next    uint32 // next page of the leaf section to look at
	carry   uint32 // first overflow page after the last leaf, or 0 (before version 4)
	onePage []byte // an overflow page outside the buffer

	// Version 4: the value stream is read by a cursor of its own, sbuf
	// holding stream pages [vfirst, vfirst+vcount), and the leaf cursor
	// steps over the value pages without reading them; vskip indexes the
	// first directory entry at or after next.
	sbuf   []byte
	vfirst uint64
	vcount int
	vskip  int

	pn     uint32 // the current leaf
	page   []byte
	prefix []byte
	n, idx int

	ent      leafEntry
	key      base.InternalKey
	kbuf     []byte
	vbuf     []byte
	ovf      []byte
	val      []byte
	valReady bool
	valid    bool
	err      error
	closed   bool
}

var _ base.InternalIterator = (*ScanIter)(nil)

// NewScanIter returns an unpositioned scan over the file's point entries
// that reads chunkBytes at a time (256 KiB if 0) into memory of
// its own.
func (r *Reader) NewScanIter(chunkBytes int) *ScanIter {
	if chunkBytes <= 0 {
		chunkBytes = defaultScanChunk
	}
	it := &ScanIter{r: r, chunk: max(1, chunkBytes/r.meta.pageSize)}
	if r.closed.Load() {
		it.err = base.ErrClosed
	}
	return it
}

func (it *ScanIter) fail(err error) bool {
	if it.err == nil {
		it.err = err
	}
	it.valid = false
	return false
}

// First moves to the first entry.
func (it *ScanIter) First() bool {
	if it.closed || it.err != nil {
		return it.fail(base.ErrClosed)
	}
	it.next, it.carry, it.bufPage = 1, 0, 0
	it.vskip, it.vcount = 0, 0
	it.n, it.idx = 0, 0
	return it.nextLeaf()
}

// Next moves to the next entry.
func (it *ScanIter) Next() bool {
	if !it.valid {
		return false
	}
	if it.idx+1 < it.n {
		it.idx++
		return it.settle()
	}
	return it.nextLeaf()
}

// nextLeaf moves to the first entry of the next leaf page.
func (it *ScanIter) nextLeaf() bool {
	r := it.r
	end := r.meta.leafEnd()
	dir := r.valueDir
	for it.next < end {
		pn := it.next
		for it.vskip < len(dir) && dir[it.vskip] < pn {
			it.vskip++
		}
		if it.vskip < len(dir) && dir[it.vskip] == pn {
			it.next++ // a value page: the value cursor reads it
			continue
		}
		page, err := it.sectionPage(pn)
		if err != nil {
			return it.fail(err)
		}
		// Before version 4 overflow pages sit between the leaves; in
		// version 4 every page here is a leaf (the value pages, which the
		// directory lists, were stepped over above), so an unlisted value
		// page fails the leaf check.
		typ := byte(pageTypeLeaf)
		if r.meta.version < 4 && page[0] == pageTypeOverflow {
			typ = pageTypeOverflow
		}
		if err := r.check(page, pn, typ); err != nil {
			return it.fail(err)
		}
		it.next++
		if typ != pageTypeLeaf {
			if it.carry == 0 {
				it.carry = pn
			}
			continue // its bytes are read with the value that references it
		}
		it.carry = 0
		it.pn, it.page, it.n, it.idx = pn, page, pageCount(page), 0
		it.prefix, _ = leafPrefix(page) // the check above validated it
		if it.n > 0 {
			return it.settle()
		}
	}
	it.valid = false
	it.key = base.InternalKey{}
	return false
}

// sectionPage returns page pn of the leaf section from the buffer, reading
// the chunk that starts at the pending overflow pages (or at pn) if pn is
// not in it.
func (it *ScanIter) sectionPage(pn uint32) ([]byte, error) {
	P := it.r.meta.pageSize
	if pn >= it.first && pn < it.first+uint32(it.bufPage) {
		off := int(pn-it.first) * P
		return it.buf[off : off+P], nil
	}
	start := pn
	if it.carry != 0 && pn-it.carry < uint32(it.chunk)/2 {
		start = it.carry // keep the value's pages with the leaf after them
	}
	end := it.r.meta.leafEnd()
	if it.vskip < len(it.r.valueDir) {
		end = it.r.valueDir[it.vskip] // the leaves stop at the next value page
	}
	n := min(uint32(it.chunk), end-start)
	if it.buf == nil {
		it.buf = vfs.AlignedBuffer(it.chunk*P, directAlign)
	}
	got, err := it.r.readAt(it.buf[:int(n)*P], int64(start)*int64(P))
	if err := it.r.readResult(start, got, int(n)*P, err); err != nil {
		it.bufPage = 0
		return nil, err
	}
	it.first, it.bufPage = start, int(n)
	off := int(pn-start) * P
	return it.buf[off : off+P], nil
}

// settle decodes the entry at idx of the current leaf.
func (it *ScanIter) settle() bool {
	e := &it.ent
	if !e.decode(it.page, it.idx) || !e.pointKind() {
		return it.fail(it.r.corrupt(it.pn, fmt.Errorf("slot %d: malformed entry", it.idx)))
	}
	it.key.Trailer = e.trailer
	if it.r.globalSeq != 0 && !it.storedSeqs {
		it.key.Trailer = base.MakeTrailer(it.r.globalSeq, base.Kind(e.trailer&0xff))
	}
	if len(it.prefix) == 0 {
		it.key.UserKey = e.suffix
	} else {
		it.kbuf = appendUserKey(it.kbuf[:0], it.prefix, e.suffix)
		it.key.UserKey = it.kbuf
	}
	it.val = e.value
	it.valReady = !e.overflow && !e.compressed
	it.valid = true
	return true
}

// Valid reports whether the iterator is at an entry.
func (it *ScanIter) Valid() bool { return it.valid }

// Key returns the current key.
func (it *ScanIter) Key() base.InternalKey { return it.key }

// Value returns the current value, reading an overflowed one and
// decompressing a compressed one; nil after an error, which Error reports.
func (it *ScanIter) Value() []byte {
	if !it.valid {
		return nil
	}
	if it.valReady {
		return it.val
	}
	e := &it.ent
	stored := e.value
	if e.overflow {
		var err error
		dst := it.vbuf[:0]
		if e.compressed {
			dst = it.ovf[:0]
		}
		if stored, err = it.stored(dst, e); err != nil {
			it.fail(err)
			return nil
		}
		if !e.compressed {
			it.vbuf, it.val, it.valReady = stored, stored, true
			return it.val
		}
		it.ovf = stored
	}
	out, err := appendDecompressed(it.vbuf[:0], stored)
	if err != nil {
		it.fail(it.r.corrupt(it.pn, fmt.Errorf("slot %d: %w", it.idx, err)))
		return nil
	}
	it.vbuf, it.val, it.valReady = out, out, true
	return it.val
}

// stored appends the stored bytes of an entry whose value is not inline.
func (it *ScanIter) stored(dst []byte, e *leafEntry) ([]byte, error) {
	if !e.ref {
		return it.payload(dst, e.ovfPage, e.valueLen)
	}
	r := it.r
	m := r.meta
	if e.valueOff > m.valueBytes || uint64(e.valueLen) > m.valueBytes-e.valueOff {
		return dst, r.corrupt(it.pn, fmt.Errorf("slot %d: value of %d bytes at stream offset %d past the stream's %d bytes", it.idx, e.valueLen, e.valueOff, m.valueBytes))
	}
	c := uint64(payloadCapacity(m.pageSize))
	i, o, n := e.valueOff/c, int(e.valueOff%c), e.valueLen
	dst = slices.Grow(dst, n)
	for n > 0 {
		if i >= uint64(len(r.valueDir)) {
			return dst, r.corrupt(it.pn, fmt.Errorf("slot %d: stream page %d past the directory's %d", it.idx, i, len(r.valueDir)))
		}
		page, err := it.streamPage(i)
		if err != nil {
			return dst, err
		}
		if err := r.checkValuePage(page, i); err != nil {
			return dst, err
		}
		take := min(n, int(c)-o)
		dst = append(dst, page[pageHeaderSize+o:pageHeaderSize+o+take]...)
		n -= take
		o = 0
		i++
	}
	return dst, nil
}

// streamPage returns page i of the value stream, validated, from the value
// cursor's buffer, which it refills from page i on when it does not hold
// it: a chunk of stream pages, those that are consecutive in the file with
// one read each.
func (it *ScanIter) streamPage(i uint64) ([]byte, error) {
	r := it.r
	P := r.meta.pageSize
	if i >= it.vfirst && i < it.vfirst+uint64(it.vcount) {
		return it.sbuf[int(i-it.vfirst)*P:][:P], nil
	}
	dir := r.valueDir
	k := int(min(uint64(it.chunk), uint64(len(dir))-i))
	if it.sbuf == nil {
		it.sbuf = vfs.AlignedBuffer(it.chunk*P, directAlign)
	}
	it.vcount = 0
	for j := 0; j < k; {
		pn := dir[i+uint64(j)]
		run := 1
		for j+run < k && dir[i+uint64(j+run)] == pn+uint32(run) {
			run++
		}
		buf := it.sbuf[j*P : (j+run)*P]
		got, err := r.readAt(buf, int64(pn)*int64(P))
		if err := r.readResult(pn, got, len(buf), err); err != nil {
			return nil, err
		}
		for x := 0; x < run; x++ {
			if err := r.check(buf[x*P:(x+1)*P], pn+uint32(x), pageTypeValue); err != nil {
				return nil, err
			}
		}
		j += run
	}
	it.vfirst, it.vcount = i, k
	return it.sbuf[:P], nil
}

// anyPage returns page pn of the leaf section, validated as type typ: from
// the buffer when it holds it (the scan validated the pages it passed),
// else read on its own.
func (it *ScanIter) anyPage(pn uint32, typ byte) ([]byte, error) {
	r := it.r
	P := r.meta.pageSize
	if pn >= it.first && pn < it.first+uint32(it.bufPage) {
		page := it.buf[int(pn-it.first)*P:][:P]
		if pn >= it.next {
			if err := r.check(page, pn, typ); err != nil {
				return nil, err
			}
		} else if page[0] != typ {
			return nil, r.corrupt(pn, fmt.Errorf("page type %s, want %s", pageTypeName(page[0]), pageTypeName(typ)))
		}
		return page, nil
	}
	if it.onePage == nil {
		it.onePage = vfs.AlignedBuffer(P, directAlign)
	}
	if err := r.readFull(it.onePage, pn); err != nil {
		return nil, err
	}
	if err := r.check(it.onePage, pn, typ); err != nil {
		return nil, err
	}
	return it.onePage, nil
}

// payload appends the n bytes of an overflowed value held in pages first,
// first+1, ... to dst, from the buffer where it holds them.
func (it *ScanIter) payload(dst []byte, first uint32, n int) ([]byte, error) {
	r := it.r
	P := r.meta.pageSize
	c := payloadCapacity(P)
	for pn := first; n > 0; pn++ {
		if pn >= r.meta.leafEnd() {
			return dst, r.corrupt(first, fmt.Errorf("overflow value runs past the leaf section"))
		}
		page, err := it.anyPage(pn, pageTypeOverflow)
		if err != nil {
			return dst, err
		}
		want := min(n, c)
		if got := pageCount(page); got != want {
			return dst, r.corrupt(pn, fmt.Errorf("payload of %d bytes, want %d", got, want))
		}
		dst = append(dst, page[pageHeaderSize:pageHeaderSize+want]...)
		n -= want
	}
	return dst, nil
}

// StoredValue returns the current value as the file stores it when that is
// a compressed block, inline or not (see Iter.StoredValue), valid until the
// next move: a merge copies it without decoding it.
func (it *ScanIter) StoredValue() ([]byte, bool) {
	e := &it.ent
	if !it.valid || !e.compressed {
		return nil, false
	}
	if !e.overflow {
		return e.value, true
	}
	stored, err := it.stored(it.ovf[:0], e)
	if err != nil {
		it.fail(err)
		return nil, false
	}
	it.ovf = stored
	return stored, true
}

// Last fails: a ScanIter moves forward only.
func (it *ScanIter) Last() bool { return it.fail(errScanForwardOnly) }

// SeekGE fails: a ScanIter moves forward only.
func (it *ScanIter) SeekGE([]byte) bool { return it.fail(errScanForwardOnly) }

// SeekLT fails: a ScanIter moves forward only.
func (it *ScanIter) SeekLT([]byte) bool { return it.fail(errScanForwardOnly) }

// Prev fails: a ScanIter moves forward only.
func (it *ScanIter) Prev() bool { return it.fail(errScanForwardOnly) }

// Error returns the first error the iterator met.
func (it *ScanIter) Error() error { return it.err }

// Close releases the iterator's buffers and returns Error().
func (it *ScanIter) Close() error {
	it.closed, it.valid = true, false
	it.buf, it.onePage, it.sbuf, it.vbuf, it.ovf, it.kbuf = nil, nil, nil, nil, nil, nil
	it.page, it.key = nil, base.InternalKey{}
	return it.err
}
