package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/bloom"
	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// SearchMode picks how Get finds a key's leaf: SearchBTree (default)
	// descends the B+Tree; SearchLeafBinary binary-searches the leaf pages
	// by their first keys, for experiments comparing the two.
	SearchMode SearchMode
	// Cache is the buffer pool every page read goes through. Required; its
	// page size must equal the file's.
	Cache *cache.Pool
	// FileNum identifies the file's pages in the cache.
	FileNum base.FileNum
	// FileName names the file in error messages; empty means the table
	// file name of FileNum.
	FileName string
	// DirectIO makes every read the Reader issues aligned for a file opened
	// with O_DIRECT (vfs.DirectOpener): offset, length and buffer address
	// all multiples of vfs.DirectIOAlignment. The caller opens the file;
	// when a read is refused with EINVAL the error wraps
	// vfs.ErrDirectIOAlignment, and the caller should reopen the file with
	// DirectIO off.
	DirectIO bool
	// Readahead is the number of pages a scan reads with one ReadAt when its
	// iterator moves into a leaf that is not cached; see readahead.go. 0
	// means 8 pages; a negative value turns readahead off. The
	// pool limits a run to a quarter of its frames.
	Readahead int
	// GlobalSeq, when non-zero, is the seqnum every entry of the file
	// reads as: a file written for ingestion holds each key once, at
	// seqnum 0, and takes the seqnum its ingestion assigned it. Open
	// fails if the metadata gives another seqnum or range deletions; the
	// ingestion checks the entries themselves.
	GlobalSeq base.SeqNum
}

// RangeDel is a range deletion: every point key in [Start, End) with a
// seqnum below Seq is deleted.
type RangeDel struct {
	Start, End []byte
	Seq        base.SeqNum
}

// ReaderStats counts what a reader's filter did.
type ReaderStats struct {
	// BloomChecks counts Get calls that probed the filter.
	BloomChecks uint64
	// BloomNegatives counts probes the filter answered "absent".
	BloomNegatives uint64
	// BloomFalsePositives counts probes the filter answered "maybe" for a
	// user key of which the file holds no entry at all.
	BloomFalsePositives uint64
	// Prefetches counts runs of pages read ahead with one read (for scans,
	// overflowed values and the filter); PrefetchedPages the pages they
	// loaded into the pool.
	Prefetches, PrefetchedPages uint64
}

// Reader reads one SST file. It is safe for concurrent use; its state after
// Open is immutable apart from atomic counters.
type Reader struct {
	f       vfs.File
	cache   *cache.Pool
	fileNum base.FileNum
	name    string
	meta    *metadata
	props   Properties

	globalSeq base.SeqNum // ReaderOptions.GlobalSeq
	direct    bool        // ReaderOptions.DirectIO
	search    SearchMode  // ReaderOptions.SearchMode
	readahead int         // pages per readahead run; 0 when off
	scratch   scratchPool // aligned buffers for runs and unaligned reads
	filter    *bloom.Filter
	rangeDels []RangeDel
	// valueDir lists the value pages in stream order (version 4).
	valueDir []uint32
	// Bounds of the point user keys, for Get to skip the descent.
	smallestUser, largestUser []byte
	// root is the root node page, read outside the pool by the first
	// descent that needs it (nodePage); nil until then.
	root atomic.Pointer[[]byte]

	bloomChecks, bloomNegatives, bloomFalsePositives atomic.Uint64
	prefetches, prefetchedPages                      atomic.Uint64
	closed                                           atomic.Bool
}

// Open reads and validates the metadata page, loads the Bloom filter and the
// range deletions, and returns a Reader that owns f: Close closes it. When
// Open fails it closes f itself. The pages of the tree are read through
// opts.Cache, but for the root node, which the Reader keeps (nodePage),
// and each is validated once, when it is loaded.
func Open(f vfs.File, opts ReaderOptions) (_ *Reader, err error) {
	if opts.Cache == nil {
		f.Close()
		return nil, errors.New("sst: ReaderOptions.Cache is required")
	}
	r := &Reader{f: f, cache: opts.Cache, fileNum: opts.FileNum, name: opts.FileName, direct: opts.DirectIO, search: opts.SearchMode, globalSeq: opts.GlobalSeq}
	switch {
	case opts.Readahead == 0:
		r.readahead = defaultReadahead
	case opts.Readahead > 0:
		r.readahead = opts.Readahead
	}
	r.scratch.min = directAlign
	if r.readahead > 1 {
		r.scratch.min = int(alignUp(int64(r.readahead)*int64(opts.Cache.PageSize()) + directAlign))
	}
	if r.name == "" {
		r.name = base.MakeFilename(base.FileTypeTable, opts.FileNum)
	}
	defer func() {
		if err != nil {
			r.cache.EvictFile(r.fileNum)
			f.Close()
		}
	}()
	if err := r.readMeta(); err != nil {
		return nil, err
	}
	if r.globalSeq != 0 && (r.meta.largestSeq != 0 || r.meta.rangeDelPages != 0) {
		return nil, r.corrupt(0, fmt.Errorf("a file with a global seqnum holds seqnums up to %d or range deletions", r.meta.largestSeq))
	}
	if err := r.readRangeDels(); err != nil {
		return nil, err
	}
	if err := r.readFilter(); err != nil {
		return nil, err
	}
	if err := r.readValueDir(); err != nil {
		return nil, err
	}
	return r, nil
}

// corrupt builds the corruption error for page pn.
func (r *Reader) corrupt(pn uint32, err error) error {
	return base.Corruptf(r.name, fmt.Sprintf("page %d", pn), "%v", err)
}

// readMeta reads and decodes the metadata page.
func (r *Reader) readMeta() error {
	size, err := r.f.Size()
	if err != nil {
		return fmt.Errorf("sst: %s: %w", r.name, err)
	}
	P := r.cache.PageSize()
	if size < MinPageSize {
		return r.corrupt(0, fmt.Errorf("file of %d bytes is shorter than a page", size))
	}
	if size < int64(P) {
		return r.foreignPageSize(size, P)
	}
	// The page is read outside the pool, as the filter and the range
	// deletions are: what Open needs of it is decoded into r.meta.
	buf := vfs.AlignedBuffer(P, directAlign)
	if err := r.readFull(buf, 0); err != nil {
		return err
	}
	m, err := decodeMeta(buf, size)
	if err != nil {
		var mm *pageSizeMismatchError
		if errors.As(err, &mm) {
			return r.foreignPageSize(size, P)
		}
		return r.corrupt(0, err)
	}
	m.smallest = bytes.Clone(m.smallest)
	m.largest = bytes.Clone(m.largest)
	r.meta = m
	p := Properties{
		Entries:         m.entries,
		RangeDels:       m.rangeDels,
		SmallestSeq:     m.smallestSeq,
		LargestSeq:      m.largestSeq,
		BloomBitsPerKey: m.bloomBits,
		PageSize:        m.pageSize,
		Pages:           m.totalPages,
		LeafPages:       m.leafPages,
		NodePages:       m.nodePages,
		BloomPages:      m.bloomPages,
		RangeDelPages:   m.rangeDelPages,
		Height:          m.height,
	}
	if m.version >= 4 {
		p.ValuePages, p.ValueDirPages, p.ValueBytes = m.overflowPages, m.valueDirPages, m.valueBytes
	} else {
		p.OverflowPages = m.overflowPages
	}
	if m.entries > 0 {
		p.Smallest, _ = base.DecodeInternalKey(m.smallest)
		p.Largest, _ = base.DecodeInternalKey(m.largest)
		r.smallestUser, r.largestUser = p.Smallest.UserKey, p.Largest.UserKey
	}
	r.props = p
	return nil
}

// foreignPageSize explains why the metadata page does not fit a cache frame
// of P bytes: either the file was written with another valid page size (its
// metadata page checks out at that size), or the file is corrupt. The
// metadata page is read outside the cache here, on this error path only.
func (r *Reader) foreignPageSize(size int64, P int) error {
	var hdr [metaKeysOff]byte
	if n, _ := r.readAt(hdr[:], 0); n < len(hdr) {
		return r.corrupt(0, fmt.Errorf("file of %d bytes is shorter than a page", size))
	}
	fp := int(binary.LittleEndian.Uint32(hdr[metaPageSizeOff:]))
	if validPageSize(fp) && fp != P && size >= int64(fp) {
		buf := make([]byte, fp)
		if err := r.readFull(buf, 0); err != nil {
			return err
		}
		if _, err := decodeMeta(buf, size); err == nil {
			return fmt.Errorf("sst: %s: file page size %d differs from the cache page size %d", r.name, fp, P)
		}
	}
	if size < int64(P) {
		return r.corrupt(0, fmt.Errorf("file of %d bytes is shorter than a %d-byte page", size, P))
	}
	return r.corrupt(0, fmt.Errorf("invalid page size %d", fp))
}

// load reads page pn into a cache frame and validates it as a page of type
// typ. A page that passes is trusted while it stays in the cache.
func (r *Reader) load(buf []byte, pn uint32, typ byte) error {
	if err := r.readFull(buf, pn); err != nil {
		return err
	}
	return r.check(buf, pn, typ)
}

// check validates buf, read from page pn, as a page of type typ: header,
// checksum and body.
func (r *Reader) check(buf []byte, pn uint32, typ byte) error {
	if err := checkPageHeader(buf, pn, typ, r.allowedFlags(typ)); err != nil {
		return r.corrupt(pn, err)
	}
	var err error
	switch typ {
	case pageTypeLeaf, pageTypeRangeDel:
		err = checkLoadedLeaf(buf, typ, r.meta.leafBounds())
	case pageTypeNode:
		err = checkNodePage(buf, r.meta.totalPages)
	case pageTypeOverflow, pageTypeBloom, pageTypeValue, pageTypeValueDir:
		err = checkPayloadPage(buf)
	}
	if err != nil {
		return r.corrupt(pn, err)
	}
	return nil
}

// allowedFlags returns the header flags a page of type typ may carry in
// this file.
func (r *Reader) allowedFlags(typ byte) byte {
	if typ != pageTypeLeaf {
		return 0
	}
	switch r.meta.version {
	case 1:
		return 0
	case 2:
		return leafFlagValueFlags
	case 3:
		return leafFlagValueFlags | leafFlagCompactKeys
	}
	return leafFlagValueFlags | leafFlagCompactKeys | leafFlagValueRefs
}

// readPage returns page pn pinned, validated as type typ. The caller
// releases the handle.
func (r *Reader) readPage(pn uint32, typ byte) (cache.Handle, []byte, error) {
	h, err := r.cache.Get(cache.PageID{File: r.fileNum, Page: base.PageNum(pn)}, func(buf []byte) error {
		return r.load(buf, pn, typ)
	})
	if err != nil {
		return cache.Handle{}, nil, err
	}
	data := h.Data()
	if data[0] != typ {
		// Cached earlier as another type: this reference is wrong.
		h.Release()
		return cache.Handle{}, nil, r.corrupt(pn, fmt.Errorf("page type %s, want %s", pageTypeName(data[0]), pageTypeName(typ)))
	}
	return h, data, nil
}

// nodePage returns node page pn, validated, for a descent: the Reader's
// own copy of the root, with the zero Handle, or else the page pinned in the
// pool. The caller releases the handle either way.
//
// Every descent of a file starts at its root, and over all the files of a
// database the roots are a few pages in every thousand, so the Reader keeps
// its root beside the metadata and the Bloom filter, out of the pool. A
// lookup in a file then costs one pool Get per level below the root (two
// for the 16 MiB files of 10M keys of 100 bytes): each Get is a shard lock,
// a table probe and an LRU move, a few cache misses that cost about as much
// as the search of the page.
func (r *Reader) nodePage(pn uint32) (cache.Handle, []byte, error) {
	if pn != r.meta.root {
		return r.readPage(pn, pageTypeNode)
	}
	if p := r.root.Load(); p != nil {
		return cache.Handle{}, *p, nil
	}
	buf := vfs.AlignedBuffer(r.cache.PageSize(), directAlign)
	if err := r.load(buf, pn, pageTypeNode); err != nil {
		return cache.Handle{}, nil, err
	}
	r.root.Store(&buf) // a concurrent first descent may store its own copy
	return cache.Handle{}, buf, nil
}

// checkChild verifies that child, referenced from node page parent, lies in
// the section its level requires: leaves for level 0, nodes above.
func (r *Reader) checkChild(parent, child uint32, level int) error {
	m := r.meta
	lo, hi := uint32(1), m.leafEnd()
	if level > 0 {
		lo, hi = m.nodeFirst(), m.nodeFirst()+m.nodePages
	}
	if child < lo || child >= hi {
		return r.corrupt(parent, fmt.Errorf("child page %d at level %d outside pages [%d, %d)", child, level, lo, hi))
	}
	return nil
}

// readRangeDels loads every range deletion into memory.
func (r *Reader) readRangeDels() error {
	m := r.meta
	if m.rangeDelPages == 0 {
		return nil
	}
	type span struct{ s, e, end int }
	var (
		arena []byte
		spans []span
		seqs  []base.SeqNum
	)
	pages, err := r.readPagesDirect(m.rangeDelFirst, int(m.rangeDelPages), pageTypeRangeDel)
	if err != nil {
		return err
	}
	P := m.pageSize
	for pn := m.rangeDelFirst; pn < m.rangeDelFirst+m.rangeDelPages; pn++ {
		page := pages[int(pn-m.rangeDelFirst)*P:][:P]
		n := pageCount(page)
		if uint64(len(spans)+n) > m.rangeDels {
			return r.corrupt(pn, fmt.Errorf("more than the %d range deletions the metadata counts", m.rangeDels))
		}
		for i := 0; i < n; i++ {
			e, ok := decodeLeafEntry(page, i)
			if !ok {
				return r.corrupt(pn, fmt.Errorf("slot %d: malformed entry", i))
			}
			ik := base.InternalKey{UserKey: e.suffix, Trailer: e.trailer} // no prefix on range-del pages
			if k := len(spans); k > 0 {
				prev := arena[spans[k-1].s:spans[k-1].e]
				c := bytes.Compare(prev, ik.UserKey)
				if c > 0 || (c == 0 && seqs[k-1] <= ik.SeqNum()) {
					return r.corrupt(pn, fmt.Errorf("slot %d: range deletion out of order", i))
				}
			}
			s := len(arena)
			arena = append(arena, ik.UserKey...)
			mid := len(arena)
			arena = append(arena, e.value...)
			spans = append(spans, span{s, mid, len(arena)})
			seqs = append(seqs, ik.SeqNum())
		}
	}
	if uint64(len(spans)) != m.rangeDels {
		return r.corrupt(0, fmt.Errorf("metadata counts %d range deletions, pages hold %d", m.rangeDels, len(spans)))
	}
	r.rangeDels = make([]RangeDel, len(spans))
	for i, sp := range spans {
		r.rangeDels[i] = RangeDel{Start: arena[sp.s:sp.e:sp.e], End: arena[sp.e:sp.end:sp.end], Seq: seqs[i]}
	}
	return nil
}

// readFilter loads and decodes the Bloom filter.
func (r *Reader) readFilter() error {
	m := r.meta
	if m.bloomPages == 0 {
		return nil
	}
	pages, err := r.readPagesDirect(m.bloomFirst, int(m.bloomPages), pageTypeBloom)
	if err != nil {
		return err
	}
	c := payloadCapacity(m.pageSize)
	data := make([]byte, 0, m.bloomLen)
	for i, n := 0, int(m.bloomLen); n > 0; i++ {
		if i >= int(m.bloomPages) {
			return r.corrupt(m.bloomFirst, fmt.Errorf("filter of %d bytes overruns its %d pages", m.bloomLen, m.bloomPages))
		}
		page := pages[i*m.pageSize:][:m.pageSize]
		want := min(n, c)
		if got := pageCount(page); got != want {
			return r.corrupt(m.bloomFirst+uint32(i), fmt.Errorf("payload of %d bytes, want %d", got, want))
		}
		data = append(data, page[pageHeaderSize:pageHeaderSize+want]...)
		n -= want
	}
	f, err := bloom.Decode(data)
	if err != nil {
		return r.corrupt(m.bloomFirst, err)
	}
	r.filter = f
	return nil
}

// readValueDir loads the value-stream directory (version 4) and checks
// that it lists value pages of the leaf section in increasing order, as
// many as the metadata counts.
func (r *Reader) readValueDir() error {
	m := r.meta
	if m.version < 4 || m.valueDirPages == 0 {
		return nil
	}
	first := m.valueDirFirst()
	pages, err := r.readPagesDirect(first, int(m.valueDirPages), pageTypeValueDir)
	if err != nil {
		return err
	}
	P := m.pageSize
	dir := make([]uint32, 0, m.overflowPages)
	for i := 0; i < int(m.valueDirPages); i++ {
		page := pages[i*P : (i+1)*P]
		n := pageCount(page)
		if n%4 != 0 {
			return r.corrupt(first+uint32(i), fmt.Errorf("directory payload of %d bytes", n))
		}
		for j := 0; j < n; j += 4 {
			dir = append(dir, binary.LittleEndian.Uint32(page[pageHeaderSize+j:]))
		}
	}
	if uint32(len(dir)) != m.overflowPages {
		return r.corrupt(first, fmt.Errorf("directory lists %d value pages, the metadata counts %d", len(dir), m.overflowPages))
	}
	perPage := payloadCapacity(P) / 4
	for i, pn := range dir {
		if pn < 1 || pn >= m.leafEnd() || (i > 0 && pn <= dir[i-1]) {
			return r.corrupt(first+uint32(i/perPage), fmt.Errorf("directory entry %d: page %d out of order or outside the leaf section", i, pn))
		}
	}
	r.valueDir = dir
	return nil
}

// readValue appends n bytes of the value stream from offset off to dst,
// reading the value pages through the pool; a value over several pages
// has the pages that are consecutive in the file read ahead together.
func (r *Reader) readValue(dst []byte, off uint64, n int) ([]byte, error) {
	m := r.meta
	if off > m.valueBytes || uint64(n) > m.valueBytes-off {
		return dst, r.corrupt(0, fmt.Errorf("value of %d bytes at stream offset %d past the stream's %d bytes", n, off, m.valueBytes))
	}
	c := uint64(payloadCapacity(m.pageSize))
	i, o := off/c, int(off%c)
	if last := (off + uint64(n) - 1) / c; r.readahead > 0 && !r.direct && last-i+1 >= bypassPages && last < uint64(len(r.valueDir)) &&
		!r.cache.Cached(cache.PageID{File: r.fileNum, Page: base.PageNum(r.valueDir[i])}) {
		return r.readValueAround(dst, i, last, o, n)
	}
	dst = slices.Grow(dst, n)
	var ra window // pages a prefetch already covered
	for n > 0 {
		if i >= uint64(len(r.valueDir)) {
			return dst, r.corrupt(0, fmt.Errorf("stream page %d past the directory's %d", i, len(r.valueDir)))
		}
		pn := r.valueDir[i]
		if r.readahead > 0 && !ra.contains(pn) && uint64(o+n) > c {
			// The value goes on past this page: read ahead the pages it
			// spans that follow this one in the file.
			k := uint32(1)
			last := min((i*c+uint64(o)+uint64(n)-1)/c, uint64(len(r.valueDir))-1) // the value's last page, from where the read is
			for j := i + 1; j <= last && r.valueDir[j] == pn+k && int(k) < r.readahead*8; j++ {
				k++
			}
			got, err := r.prefetch(pn, int(k), pageTypeValue)
			ra = window{pn, pn + max(uint32(got), 1)}
			if err != nil {
				ra.hi = pn + k
			}
		}
		h, page, err := r.readPage(pn, pageTypeValue)
		if err != nil {
			return dst, err
		}
		if err := r.checkValuePage(page, i); err != nil {
			h.Release()
			return dst, err
		}
		take := min(n, int(c)-o)
		dst = append(dst, page[pageHeaderSize+o:pageHeaderSize+o+take]...)
		h.Release()
		n -= take
		o = 0
		i++
	}
	return dst, nil
}

// bypassPages is the number of value pages from which a value whose
// first page is not in the buffer pool is read around it: its pages are
// read a run at a time into a scratch buffer, each page checked, the
// payloads copied out (readValueAround).
// Caching such a value would take as many frames as it has pages, and
// claiming, filling and releasing them cost a Get of a 16 or 64 KiB value
// more than the read itself; a value of a megabyte pushed 257 frames out
// of the pool and took its shards' locks 257 times, so concurrent gets of
// such values went no faster than one. The operating system's page cache
// still holds the pages. A value whose first page is cached (a scan read
// it ahead) goes through the pool, and so does every value under
// DirectIO, where nothing else caches it, or with readahead off.
const bypassPages = 4

// bypassRunPages bounds one read of a value read around the pool: a
// larger value is read this many pages at a time.
const bypassRunPages = 64

// readsAround reports whether the value of e is large enough to be read
// around the pool (see bypassPages): a scan does not read it ahead into
// the pool, which would only fill frames for one use.
func (r *Reader) readsAround(e *leafEntry) bool {
	if r.readahead <= 0 || r.direct || e.valueLen <= 0 {
		return false
	}
	c := uint64(payloadCapacity(r.meta.pageSize))
	pages := (e.valueOff+uint64(e.valueLen)-1)/c - e.valueOff/c + 1
	return pages >= bypassPages
}

// readValueAround appends n bytes of the value stream, from offset o of
// stream page i to stream page last, to dst, reading around the pool: a
// run of at most bypassRunPages pages consecutive in the file at a time,
// with one read into a scratch buffer, each page checked and its payload
// copied out. The scratch buffer stays small whatever the value's size:
// it fits in the processor's cache while the payloads are copied, and one
// the garbage collector drops (a sync.Pool's) costs little to make again.
func (r *Reader) readValueAround(dst []byte, i, last uint64, o, n int) ([]byte, error) {
	P, c := r.meta.pageSize, payloadCapacity(r.meta.pageSize)
	dst = slices.Grow(dst, n)
	buf := r.scratch.get(int(min(last-i+1, bypassRunPages)) * P)
	defer r.scratch.put(buf)
	for i <= last {
		first := r.valueDir[i]
		pages := 1
		for uint64(pages) < min(last-i+1, bypassRunPages) && r.valueDir[i+uint64(pages)] == first+uint32(pages) {
			pages++
		}
		if uint64(first)+uint64(pages) > uint64(r.meta.totalPages) {
			return dst, r.corrupt(first, fmt.Errorf("%d value pages run past the end of the file", pages))
		}
		raw := (*buf)[:pages*P]
		got, err := r.readAt(raw, int64(first)*int64(P))
		if err := r.readResult(first, got, len(raw), err); err != nil {
			return dst, err
		}
		for j := range pages {
			page := raw[j*P : (j+1)*P]
			if err := r.check(page, first+uint32(j), pageTypeValue); err != nil {
				return dst, err
			}
			if err := r.checkValuePage(page, i+uint64(j)); err != nil {
				return dst, err
			}
			take := min(n, c-o)
			dst = append(dst, page[pageHeaderSize+o:pageHeaderSize+o+take]...)
			n -= take
			o = 0
		}
		i += uint64(pages)
	}
	return dst, nil
}

// checkValuePage checks that page, page i of the value stream, holds the
// bytes the stream's length gives it: a full payload, or on the last page
// what is left.
func (r *Reader) checkValuePage(page []byte, i uint64) error {
	c := uint64(payloadCapacity(r.meta.pageSize))
	want := c
	if i == uint64(len(r.valueDir))-1 {
		want = r.meta.valueBytes - i*c
	}
	if got := uint64(pageCount(page)); got != want {
		return r.corrupt(r.valueDir[i], fmt.Errorf("value page of %d bytes, want %d", got, want))
	}
	return nil
}

// readPagesDirect reads n pages from first on with one read, without the
// buffer pool, and validates each as a page of type typ. Open reads the
// range deletions and the filter this way: it keeps them decoded in
// memory, so caching their pages would only push other pages out (and
// would need frames that readers may hold pinned).
func (r *Reader) readPagesDirect(first uint32, n int, typ byte) ([]byte, error) {
	P := r.meta.pageSize
	if uint64(first)+uint64(n) > uint64(r.meta.totalPages) {
		return nil, r.corrupt(first, fmt.Errorf("%d pages run past the end of the file", n))
	}
	buf := vfs.AlignedBuffer(n*P, directAlign)
	got, err := r.readAt(buf, int64(first)*int64(P))
	if err := r.readResult(first, got, len(buf), err); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if err := r.check(buf[i*P:(i+1)*P], first+uint32(i), typ); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// readPayload appends n bytes held in consecutive pages of type typ from
// page first on (an overflow value or the filter) to dst.
func (r *Reader) readPayload(dst []byte, first uint32, n int, typ byte) ([]byte, error) {
	c := payloadCapacity(r.meta.pageSize)
	var ra window // pages a prefetch already covered
	for pn := first; n > 0; pn++ {
		if pn >= r.meta.totalPages {
			return dst, r.corrupt(first, fmt.Errorf("payload runs past the end of the file"))
		}
		if left := uint32((n + c - 1) / c); r.readahead > 0 && left > 1 && !ra.contains(pn) {
			// Read the rest of the payload ahead, as far as the pool lets
			// one run go and not past the end of the file.
			k := min(left, r.meta.totalPages-pn)
			got, err := r.prefetch(pn, int(k), typ)
			ra = window{pn, pn + max(uint32(got), 1)}
			if err != nil {
				ra.hi = pn + k
			}
		}
		h, page, err := r.readPage(pn, typ)
		if err != nil {
			return dst, err
		}
		want := min(n, c)
		if got := pageCount(page); got != want {
			h.Release()
			return dst, r.corrupt(pn, fmt.Errorf("payload of %d bytes, want %d", got, want))
		}
		dst = append(dst, page[pageHeaderSize:pageHeaderSize+want]...)
		h.Release()
		n -= want
	}
	return dst, nil
}

// Properties returns the file's properties. Smallest and Largest are copies
// the caller owns.
func (r *Reader) Properties() Properties {
	p := r.props
	if r.globalSeq != 0 {
		p.SmallestSeq, p.LargestSeq = r.globalSeq, r.globalSeq
		p.Smallest.Trailer = base.MakeTrailer(r.globalSeq, p.Smallest.Kind())
		p.Largest.Trailer = base.MakeTrailer(r.globalSeq, p.Largest.Kind())
	}
	p.Smallest = p.Smallest.Clone()
	p.Largest = p.Largest.Clone()
	if r.props.Entries == 0 {
		p.Smallest, p.Largest = base.InternalKey{}, base.InternalKey{}
	}
	return p
}

// RangeDels returns the file's range deletions sorted by start key, then
// seqnum descending. The slice and its bytes are shared: do not modify them.
func (r *Reader) RangeDels() []RangeDel { return r.rangeDels }

// mayContain reports whether the file may hold an entry for ukey: false when
// it has no point entries or the filter rules ukey out.
func (r *Reader) mayContain(ukey []byte) bool {
	if r.meta.entries == 0 {
		return false
	}
	return r.filter == nil || r.filter.MayContain(ukey)
}

// Stats returns the reader's filter and readahead counters.
func (r *Reader) Stats() ReaderStats {
	return ReaderStats{
		BloomChecks:         r.bloomChecks.Load(),
		BloomNegatives:      r.bloomNegatives.Load(),
		BloomFalsePositives: r.bloomFalsePositives.Load(),
		Prefetches:          r.prefetches.Load(),
		PrefetchedPages:     r.prefetchedPages.Load(),
	}
}

// Close evicts the file's pages from the cache and closes the file. Pages
// still pinned by open iterators stay valid until those iterators close.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return base.ErrClosed
	}
	r.cache.EvictFile(r.fileNum)
	return r.f.Close()
}

// nodeChild returns the child in slot i of node page pn, checked against
// the section of its level.
func (r *Reader) nodeChild(page []byte, pn uint32, i, level int) (uint32, error) {
	_, child, ok := decodeNodeEntry(page, i)
	if !ok {
		return 0, r.corrupt(pn, fmt.Errorf("slot %d: malformed entry", i))
	}
	if err := r.checkChild(pn, child, level); err != nil {
		return 0, err
	}
	return child, nil
}

// maxPooledScratch bounds the compressed values that a Get reads into a
// pooled scratch buffer; a larger one (or a length a damaged leaf claims)
// gets a buffer of its own, which the pool does not keep.
const maxPooledScratch = 1 << 20

// appendValue appends the value of entry e, slot i of leaf pn, to dst: the
// inline bytes, or those of its overflow pages, decompressed when the entry
// is compressed. A compressed overflowed value is first read into
// *scratch (a pooled or fresh buffer when scratch is nil). A block that does not
// decode is a corruption error naming the leaf and slot.
func (r *Reader) appendValue(dst []byte, e *leafEntry, pn uint32, i int, scratch *[]byte) ([]byte, error) {
	stored := e.value
	switch {
	case e.overflow && !e.compressed:
		return r.readStored(dst, e)
	case e.overflow:
		var buf []byte
		if scratch != nil {
			buf = (*scratch)[:0]
		} else if e.valueLen <= maxPooledScratch {
			// A Get: borrow the buffer, so a lookup into the caller's
			// buffer allocates nothing.
			s := r.scratch.get(e.valueLen)
			defer r.scratch.put(s)
			buf = (*s)[:0]
		}
		var err error
		if stored, err = r.readStored(buf, e); err != nil {
			return dst, err
		}
		if scratch != nil {
			*scratch = stored
		}
	case !e.compressed:
		return append(dst, stored...), nil
	}
	out, err := appendDecompressed(dst, stored)
	if err != nil {
		return dst, r.corrupt(pn, fmt.Errorf("slot %d: %w", i, err))
	}
	return out, nil
}

// readStored appends the stored bytes of an entry whose value is not
// inline: from the value stream (version 4) or its overflow pages.
func (r *Reader) readStored(dst []byte, e *leafEntry) ([]byte, error) {
	if e.ref {
		if r.meta.version < 4 {
			return dst, r.corrupt(0, errors.New("a value-stream reference in a file before version 4"))
		}
		return r.readValue(dst, e.valueOff, e.valueLen)
	}
	return r.readPayload(dst, e.ovfPage, e.valueLen, pageTypeOverflow)
}

// PageSizeOf returns the page size the file f was written with, read from
// its metadata page and validated with it (magic, checksum, fields), so a
// database that predates recording its page size can learn it from any of
// its files. name identifies f in errors.
func PageSizeOf(f vfs.File, name string) (int, error) {
	size, err := f.Size()
	if err != nil {
		return 0, fmt.Errorf("sst: %s: %w", name, err)
	}
	head := make([]byte, metaPageSizeOff+4)
	if n, err := f.ReadAt(head, 0); n < len(head) {
		if err == nil || errors.Is(err, io.EOF) {
			return 0, base.Corruptf(name, "page 0", "file of %d bytes is shorter than a metadata header", size)
		}
		return 0, fmt.Errorf("sst: %s: %w", name, err)
	}
	P := int(binary.LittleEndian.Uint32(head[metaPageSizeOff:]))
	if !validPageSize(P) || size < int64(P) {
		return 0, base.Corruptf(name, "page 0", "invalid page size %d", P)
	}
	page := make([]byte, P)
	if _, err := f.ReadAt(page, 0); err != nil {
		return 0, fmt.Errorf("sst: %s: %w", name, err)
	}
	if _, err := decodeMeta(page, size); err != nil {
		return 0, base.Corruptf(name, "page 0", "%v", err)
	}
	return P, nil
}
