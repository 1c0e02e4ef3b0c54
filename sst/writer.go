package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/seed-d6fe07da/strata/bloom"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// maxBloomBitsPerKey caps the bits per key a writer records; package bloom
// treats anything above 256 as 256.
const maxBloomBitsPerKey = 256

// writeBufferSize is how many bytes of finished pages the writer gathers
// before one WriteAt.
const writeBufferSize = 256 << 10

// writebackInterval is how many bytes the writer writes between asking
// the kernel to start writing them to disk (vfs.WritebackStarter), so the
// disk works while the rest of the file is built and the fsync in Finish
// waits for the last stretch rather than the whole file. Pebble's
// BytesPerSync and RocksDB's bytes_per_sync do the same (512 KiB and 1 MiB).
const writebackInterval = 1 << 20

// errWriterDone is returned by calls on a writer after Finish or Abort.
var errWriterDone = errors.New("sst: writer already finished or aborted")

// WriterOptions configures a Writer.
type WriterOptions struct {
	// PageSize is the page size of the file, a power of two in
	// [MinPageSize, MaxPageSize]; 0 means 4096.
	PageSize int
	// BloomBitsPerKey sizes the file's Bloom filter; <= 0 writes no filter.
	// Values above 256 are treated as 256.
	BloomBitsPerKey float64
	// FileName names the file in error messages.
	FileName string
	// Compression is how values are stored; the zero value stores them
	// as they are.
	Compression Compression
}

// ensureDefaults returns a filled copy of o.
func (o WriterOptions) ensureDefaults() WriterOptions {
	if o.PageSize == 0 {
		o.PageSize = defaultPageSize
	}
	if !(o.BloomBitsPerKey > 0) { // also catches NaN
		o.BloomBitsPerKey = 0
	}
	o.BloomBitsPerKey = min(o.BloomBitsPerKey, maxBloomBitsPerKey)
	return o
}

// validate rejects options a writer cannot use.
func (o WriterOptions) validate() error {
	if o.PageSize != 0 && !validPageSize(o.PageSize) {
		return fmt.Errorf("sst: WriterOptions.PageSize %d is not a power of two in [%d, %d]", o.PageSize, MinPageSize, MaxPageSize)
	}
	if o.Compression > SnappyCompression {
		return fmt.Errorf("sst: WriterOptions.Compression %d is unknown", o.Compression)
	}
	return nil
}

// Properties describes a finished file.
type Properties struct {
	// Entries and RangeDels count point entries and range deletions.
	Entries, RangeDels uint64
	// Smallest and Largest are the point keys at both ends; zero when
	// Entries == 0. They own their bytes.
	Smallest, Largest base.InternalKey
	// SmallestSeq and LargestSeq bound the seqnums of points and range
	// deletions; both 0 in an empty file.
	SmallestSeq, LargestSeq base.SeqNum
	// BloomBitsPerKey is the filter's bits per key, 0 without a filter.
	BloomBitsPerKey float64
	// PageSize is the file's page size.
	PageSize int
	// Pages is the total page count; the file is Pages*PageSize bytes.
	Pages                                           uint32
	LeafPages, OverflowPages, NodePages, BloomPages uint32
	// ValuePages hold the value stream (version 4), ValueBytes long, and
	// ValueDirPages list them; OverflowPages are version 1 to 3's pages of
	// large values.
	ValuePages, ValueDirPages uint32
	ValueBytes                uint64
	// RangeDelPages counts range-deletion pages.
	RangeDelPages uint32
	// Height is the number of node levels above the leaves (0: the root is
	// a leaf, or the file has no point entries).
	Height int
}

// sepRef is a separator for the next tree level: an encoded key held in the
// writer's arena and the page it leads to.
type sepRef struct {
	off, n int
	page   uint32
}

// pageBuilder lays out one slotted page (leaf, range-del or node).
type pageBuilder struct {
	buf []byte
	n   int // entries
	lo  int // end of the slot array
	hi  int // start of the entry region
}

func (b *pageBuilder) reset() {
	clear(b.buf)
	b.n = 0
	b.lo = pageHeaderSize
	b.hi = len(b.buf)
}

// fits reports whether an entry of size bytes (plus its slot) fits.
func (b *pageBuilder) fits(size int) bool { return b.hi-b.lo >= size+slotSize }

// add reserves size bytes for the next entry and returns them.
func (b *pageBuilder) add(size int) []byte {
	b.hi -= size
	binary.LittleEndian.PutUint16(b.buf[b.lo:], uint16(b.hi))
	b.lo += slotSize
	b.n++
	return b.buf[b.hi : b.hi+size]
}

// Writer writes one SST file. Point entries arrive in increasing order
// through Add; range deletions in any order through AddRangeDel; Finish
// writes the tree, the filter and finally the metadata page. A Writer is not
// safe for concurrent use.
type Writer struct {
	f        vfs.File
	opts     WriterOptions
	pageSize int
	err      error // sticky: the first failure, or errWriterDone

	// Output: finished pages waiting in wbuf start at page wbufPage;
	// nextPage is the number the next finished page gets.
	wbuf     []byte
	wbufPage uint32
	nextPage uint32
	// wb starts the writeback of written pages, nil if f cannot; pages
	// below wbPage have been handed to it.
	wb      vfs.WritebackStarter
	wbPage  uint32
	scratch []byte // one page, for overflow, Bloom and metadata pages

	leaf      leafBuilder
	leafPage  []byte // the page the leaf is laid out in
	leafFirst int    // index in seps of the current leaf's separator, -1 if empty
	tail      [binary.MaxVarintLen64]byte

	// The value stream: values too large to sit inline, packed back to
	// back over value pages. vpage is the page being filled (vused payload
	// bytes), vbytes the stream's length so far, vdir the numbers of the
	// value pages written, in stream order.
	vpage  []byte
	vused  int
	vbytes uint64
	vdir   []uint32

	// Separators of the finished leaves (and, in Finish, of each node
	// level), their keys in arena.
	arena []byte
	seps  []sepRef

	lastKey  []byte // encoded last point key added
	rangeDel []pendingRangeDel
	rdArena  []byte
	bloom    *bloom.Builder
	compress compressor

	props    Properties
	haveSeq  bool
	leafN    uint32
	rdBytes  int
	distinct int
}

// pendingRangeDel is a range deletion held until Finish; start and end
// index rdArena.
type pendingRangeDel struct {
	start, end [2]int
	seq        base.SeqNum
}

// NewWriter returns a writer that writes a new file to f, which should be
// empty. Invalid options make every call fail with the validation error.
func NewWriter(f vfs.File, opts WriterOptions) *Writer {
	w := &Writer{f: f}
	if err := opts.validate(); err != nil {
		w.err = err
		w.opts = opts
		return w
	}
	w.opts = opts.ensureDefaults()
	w.pageSize = w.opts.PageSize
	w.compress.kind = w.opts.Compression
	w.leaf.pageSize = w.pageSize
	w.leafPage = make([]byte, w.pageSize)
	w.leafFirst = -1
	w.scratch = make([]byte, w.pageSize)
	w.vpage = make([]byte, w.pageSize)
	w.props.PageSize = w.pageSize
	w.props.BloomBitsPerKey = w.opts.BloomBitsPerKey
	if w.opts.BloomBitsPerKey > 0 {
		w.bloom = bloom.NewBuilder()
	}
	// Page 0 is reserved for the metadata page, written last.
	w.wbuf = make([]byte, w.pageSize, writeBufferSize+w.pageSize)
	w.nextPage = 1
	w.wb, _ = f.(vfs.WritebackStarter)
	return w
}

// fail records err as the writer's sticky error and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// emitPage seals page (len P) as the next page of the file and queues it
// for writing. It returns the page's number.
func (w *Writer) emitPage(page []byte, typ byte, count int) (uint32, error) {
	pn := w.nextPage
	if pn == math.MaxUint32 {
		return 0, w.fail(fmt.Errorf("sst: %s: file exceeds %d pages", w.opts.FileName, uint32(math.MaxUint32)))
	}
	sealPage(page, typ, count, pn)
	w.wbuf = append(w.wbuf, page...)
	w.nextPage++
	if len(w.wbuf) >= writeBufferSize {
		if err := w.flushBuf(); err != nil {
			return 0, err
		}
	}
	return pn, nil
}

// flushBuf writes the queued pages.
func (w *Writer) flushBuf() error {
	if len(w.wbuf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.wbuf, int64(w.wbufPage)*int64(w.pageSize)); err != nil {
		return w.fail(fmt.Errorf("sst: %s: write: %w", w.opts.FileName, err))
	}
	w.wbufPage += uint32(len(w.wbuf) / w.pageSize)
	w.wbuf = w.wbuf[:0]
	if w.wb != nil && int64(w.wbufPage-w.wbPage)*int64(w.pageSize) >= writebackInterval {
		// Only a hint: a failure here shows again at the fsync.
		_ = w.wb.StartWriteback(int64(w.wbPage)*int64(w.pageSize), int64(w.wbufPage-w.wbPage)*int64(w.pageSize))
		w.wbPage = w.wbufPage
	}
	return nil
}

// emitPayload writes data over consecutive pages of type typ.
func (w *Writer) emitPayload(data []byte, typ byte) error {
	c := payloadCapacity(w.pageSize)
	for len(data) > 0 {
		n := min(len(data), c)
		clear(w.scratch)
		copy(w.scratch[pageHeaderSize:], data[:n])
		if _, err := w.emitPage(w.scratch, typ, n); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// noteSeq widens the seqnum range.
func (w *Writer) noteSeq(s base.SeqNum) {
	if !w.haveSeq {
		w.props.SmallestSeq, w.props.LargestSeq = s, s
		w.haveSeq = true
		return
	}
	w.props.SmallestSeq = min(w.props.SmallestSeq, s)
	w.props.LargestSeq = max(w.props.LargestSeq, s)
}

// Add appends a point entry of kind base.KindSet, base.KindDelete or
// base.KindMerge (an operand, stored as a value is). Keys
// must be strictly increasing in base.CompareInternal order. The user key
// may be at most MaxKeySize(PageSize) bytes, the value at most 256 MiB
// (empty or nil is fine). Neither is retained after Add returns.
func (w *Writer) Add(key base.InternalKey, value []byte) error {
	return w.add(key, value, false)
}

// AddCompressed is Add for a value already compressed the way this
// writer's Compression stores it: block is a Snappy block, as an Iter's
// StoredValue returns it, and is stored as it is. A merge copies values
// between files this way without decoding and encoding them again; only
// the block's length header is checked, the checksum of the page it came
// from vouching for the rest. Without SnappyCompression the block is
// decoded and the value stored plain.
func (w *Writer) AddCompressed(key base.InternalKey, block []byte) error {
	if w.compress.kind != SnappyCompression {
		v, err := appendDecompressed(w.compress.buf[:0], block)
		if err != nil {
			return fmt.Errorf("sst: %s: AddCompressed of key %s: %w", w.opts.FileName, key, err)
		}
		w.compress.buf = v[:0]
		return w.add(key, v, false)
	}
	if _, err := decompressedLen(block); err != nil {
		return fmt.Errorf("sst: %s: AddCompressed of key %s: %w", w.opts.FileName, key, err)
	}
	return w.add(key, block, true)
}

// add is Add; with compressed, value is a Snappy block to store as it is.
func (w *Writer) add(key base.InternalKey, value []byte, compressed bool) error {
	if w.err != nil {
		return w.err
	}
	if k := key.Kind(); k != base.KindSet && k != base.KindDelete && k != base.KindMerge {
		return fmt.Errorf("sst: %s: Add of key %s: kind must be SET, DEL or MERGE", w.opts.FileName, key)
	}
	if len(key.UserKey) > MaxKeySize(w.pageSize) {
		return fmt.Errorf("sst: %s: user key of %d bytes exceeds the limit of %d for %d-byte pages", w.opts.FileName, len(key.UserKey), MaxKeySize(w.pageSize), w.pageSize)
	}
	if len(value) > maxValueSize {
		return fmt.Errorf("sst: %s: value of %d bytes exceeds the limit of %d", w.opts.FileName, len(value), maxValueSize)
	}
	if w.lastKey != nil && compareEncoded(w.lastKey, key) >= 0 {
		return fmt.Errorf("sst: %s: Add of key %s: not after the previous key", w.opts.FileName, key)
	}
	if w.bloom != nil && (w.lastKey == nil || !bytes.Equal(w.lastKey[:len(w.lastKey)-base.TrailerLen], key.UserKey)) {
		w.bloom.Add(key.UserKey)
		w.distinct++
	}

	// The value field: stored length << 2 | compressed << 1 | overflow.
	if !compressed {
		value, compressed = w.compress.compress(value)
	}
	vf := uint64(len(value)) << 2
	if compressed {
		vf |= 2
	}
	// Whether the value stays inline is decided on the entry's size with
	// its whole user key, whatever prefix the page ends up with.
	ukey := key.UserKey
	inline := uvarintLen(uint64(len(ukey))) + len(ukey) + uvarintLen(key.Trailer) + uvarintLen(vf) + len(value)
	ref := len(value) > maxAlwaysInline && inline+slotSize > maxInlineEntry(w.pageSize)
	tailLen := len(value)
	valueOff := w.vbytes
	if ref {
		vf |= 1
		tailLen = uvarintLen(valueOff)
	}
	if w.leaf.n() > 0 && !w.leaf.fits(ukey, key.Trailer, vf, tailLen) {
		if err := w.finishLeaf(); err != nil {
			return err
		}
	}
	if ref {
		if err := w.appendValue(value); err != nil {
			return err
		}
	}
	if w.leaf.n() == 0 {
		w.leafFirst = len(w.seps)
		off := len(w.arena)
		w.arena = key.AppendEncoded(w.arena)
		w.seps = append(w.seps, sepRef{off: off, n: key.EncodedLen()})
	}
	tail := value
	if ref {
		tail = binary.AppendUvarint(w.tail[:0], valueOff)
	}
	w.leaf.add(ukey, key.Trailer, vf, tail)

	w.lastKey = key.AppendEncoded(w.lastKey[:0])
	if w.props.Entries == 0 {
		w.props.Smallest = key.Clone()
	}
	w.props.Entries++
	w.noteSeq(key.SeqNum())
	return nil
}

// appendValue appends v to the value stream, writing each value page as it
// fills. A page is written once full whatever else is written meanwhile, so
// a value's pages need not be consecutive in the file: the directory
// written at Finish maps stream pages to file pages.
func (w *Writer) appendValue(v []byte) error {
	c := payloadCapacity(w.pageSize)
	for len(v) > 0 {
		n := copy(w.vpage[pageHeaderSize+w.vused:pageHeaderSize+c], v)
		w.vused += n
		w.vbytes += uint64(n)
		v = v[n:]
		if w.vused == c {
			if err := w.flushValuePage(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushValuePage writes the value page being filled, if it holds bytes.
func (w *Writer) flushValuePage() error {
	if w.vused == 0 {
		return nil
	}
	pn, err := w.emitPage(w.vpage, pageTypeValue, w.vused)
	if err != nil {
		return err
	}
	w.vdir = append(w.vdir, pn)
	clear(w.vpage)
	w.vused = 0
	return nil
}

// finishLeaf writes the current leaf, if it holds entries.
func (w *Writer) finishLeaf() error {
	if w.leaf.n() == 0 {
		return nil
	}
	if err := w.leaf.build(w.leafPage); err != nil {
		return w.fail(err)
	}
	pn, err := w.emitPage(w.leafPage, pageTypeLeaf, w.leaf.n())
	if err != nil {
		return err
	}
	w.seps[w.leafFirst].page = pn
	w.leafN++
	w.leaf.reset()
	w.leafFirst = -1
	return nil
}

// AddRangeDel records the range deletion [start, end) at seq. Calls may come
// in any order. start may be at most MaxKeySize(PageSize) bytes and end one
// byte more (so that an end above every key fits); start must be below end.
// Neither slice is retained.
func (w *Writer) AddRangeDel(start, end []byte, seq base.SeqNum) error {
	if w.err != nil {
		return w.err
	}
	if m := MaxKeySize(w.pageSize); len(start) > m || len(end) > m+1 {
		return fmt.Errorf("sst: %s: range deletion [%d-byte key, %d-byte key) exceeds the limit of %d", w.opts.FileName, len(start), len(end), m)
	}
	if bytes.Compare(start, end) >= 0 {
		return fmt.Errorf("sst: %s: range deletion [%q, %q) is empty", w.opts.FileName, start, end)
	}
	if seq > base.MaxSeqNum {
		return fmt.Errorf("sst: %s: range deletion seqnum %d exceeds %d", w.opts.FileName, seq, base.MaxSeqNum)
	}
	var rd pendingRangeDel
	rd.start[0] = len(w.rdArena)
	w.rdArena = append(w.rdArena, start...)
	rd.start[1] = len(w.rdArena)
	rd.end[0] = len(w.rdArena)
	w.rdArena = append(w.rdArena, end...)
	rd.end[1] = len(w.rdArena)
	rd.seq = seq
	w.rangeDel = append(w.rangeDel, rd)
	w.rdBytes += len(start) + len(end) + 16
	w.noteSeq(seq)
	return nil
}

// EstimatedSize returns the bytes written so far plus an estimate of what
// is still pending: the open leaf, the range deletions, the tree and the
// filter.
func (w *Writer) EstimatedSize() int64 {
	if w.pageSize == 0 {
		return 0
	}
	n := int64(w.nextPage) * int64(w.pageSize)
	if w.leaf.n() > 0 {
		n += int64(w.pageSize)
	}
	n += int64(w.rdBytes)
	n += int64(w.vused + 4*len(w.vdir))
	n += int64(len(w.arena) + 8*len(w.seps))
	n += int64(float64(w.distinct) * w.opts.BloomBitsPerKey / 8)
	return n
}

// Finish writes the range deletions, the B+Tree nodes, the filter and the
// metadata page, syncs the file and returns the file's properties. It does
// not close f. The writer cannot be used afterwards.
func (w *Writer) Finish() (Properties, error) {
	if w.err != nil {
		return Properties{}, w.err
	}
	props, err := w.finish()
	w.release()
	if err != nil {
		w.fail(err)
		return Properties{}, err
	}
	w.err = errWriterDone
	return props, nil
}

func (w *Writer) finish() (Properties, error) {
	if err := w.finishLeaf(); err != nil {
		return Properties{}, err
	}
	if err := w.flushValuePage(); err != nil {
		return Properties{}, err
	}
	m := metadata{version: formatVersion, pageSize: w.pageSize, leafPages: w.leafN, overflowPages: uint32(len(w.vdir)),
		entries: w.props.Entries, valueBytes: w.vbytes}
	if w.props.Entries > 0 {
		lk, _ := base.DecodeInternalKey(w.lastKey)
		w.props.Largest = lk.Clone()
		m.smallest = w.props.Smallest.AppendEncoded(nil)
		m.largest = w.lastKey
	}

	m.rangeDelFirst = w.nextPage
	if err := w.writeRangeDels(); err != nil {
		return Properties{}, err
	}
	m.rangeDelPages = w.nextPage - m.rangeDelFirst
	m.rangeDels = uint64(len(w.rangeDel))

	nodeFirst := w.nextPage
	root, height, err := w.writeTree()
	if err != nil {
		return Properties{}, err
	}
	m.root, m.height = root, height
	m.nodePages = w.nextPage - nodeFirst

	if len(w.vdir) > 0 {
		dir := make([]byte, 4*len(w.vdir))
		for i, pn := range w.vdir {
			binary.LittleEndian.PutUint32(dir[4*i:], pn)
		}
		before := w.nextPage
		if err := w.emitPayload(dir, pageTypeValueDir); err != nil {
			return Properties{}, err
		}
		m.valueDirPages = w.nextPage - before
	}

	m.bloomFirst = w.nextPage
	if w.bloom != nil {
		data := w.bloom.Finish(w.opts.BloomBitsPerKey)
		if uint64(len(data)) > math.MaxUint32 {
			return Properties{}, fmt.Errorf("sst: %s: bloom filter of %d bytes is too large", w.opts.FileName, len(data))
		}
		if len(data) > 0 {
			if err := w.emitPayload(data, pageTypeBloom); err != nil {
				return Properties{}, err
			}
			m.bloomLen = uint32(len(data))
			m.bloomBits = w.opts.BloomBitsPerKey
		}
	}
	m.bloomPages = w.nextPage - m.bloomFirst
	m.totalPages = w.nextPage
	m.smallestSeq, m.largestSeq = w.props.SmallestSeq, w.props.LargestSeq

	if err := w.flushBuf(); err != nil {
		return Properties{}, err
	}
	clear(w.scratch)
	encodeMeta(&m, w.scratch)
	if _, err := w.f.WriteAt(w.scratch, 0); err != nil {
		return Properties{}, fmt.Errorf("sst: %s: write metadata page: %w", w.opts.FileName, err)
	}
	if err := w.f.Sync(); err != nil {
		return Properties{}, fmt.Errorf("sst: %s: sync: %w", w.opts.FileName, err)
	}

	p := w.props
	p.RangeDels = m.rangeDels
	p.BloomBitsPerKey = m.bloomBits
	p.Pages = m.totalPages
	p.LeafPages, p.ValuePages, p.NodePages, p.BloomPages = m.leafPages, m.overflowPages, m.nodePages, m.bloomPages
	p.ValueDirPages, p.ValueBytes = m.valueDirPages, m.valueBytes
	p.RangeDelPages = m.rangeDelPages
	p.Height = m.height
	return p, nil
}

// writeRangeDels sorts the range deletions by (start, seq descending),
// merges those sharing start and seq (the union of [s, e1) and [s, e2) at
// one seqnum is [s, max(e1, e2))) and writes them as range-del pages.
func (w *Writer) writeRangeDels() error {
	if len(w.rangeDel) == 0 {
		return nil
	}
	a := w.rdArena
	slices.SortFunc(w.rangeDel, func(x, y pendingRangeDel) int {
		if c := bytes.Compare(a[x.start[0]:x.start[1]], a[y.start[0]:y.start[1]]); c != 0 {
			return c
		}
		switch {
		case x.seq > y.seq:
			return -1
		case x.seq < y.seq:
			return 1
		}
		return bytes.Compare(a[y.end[0]:y.end[1]], a[x.end[0]:x.end[1]]) // larger end first
	})
	out := w.rangeDel[:1]
	for _, rd := range w.rangeDel[1:] {
		last := out[len(out)-1]
		if rd.seq == last.seq && bytes.Equal(a[rd.start[0]:rd.start[1]], a[last.start[0]:last.start[1]]) {
			continue // last has the larger end
		}
		out = append(out, rd)
	}
	w.rangeDel = out

	var pb pageBuilder
	pb.buf = w.scratch
	pb.reset()
	for _, rd := range w.rangeDel {
		start, end := a[rd.start[0]:rd.start[1]], a[rd.end[0]:rd.end[1]]
		key := base.MakeInternalKey(start, rd.seq, base.KindRangeDelete)
		klen := key.EncodedLen()
		size := uvarintLen(uint64(klen)) + uvarintLen(uint64(len(end))<<1) + klen + len(end)
		if !pb.fits(size) {
			if _, err := w.emitPage(pb.buf, pageTypeRangeDel, pb.n); err != nil {
				return err
			}
			pb.reset()
		}
		e := pb.add(size)
		i := binary.PutUvarint(e, uint64(klen))
		i += binary.PutUvarint(e[i:], uint64(len(end))<<1)
		i += key.Encode(e[i:])
		copy(e[i:], end)
	}
	_, err := w.emitPage(pb.buf, pageTypeRangeDel, pb.n)
	return err
}

// writeTree builds the B+Tree bottom-up over the leaf separators, filling
// node pages greedily, and returns the root page and the height.
func (w *Writer) writeTree() (root uint32, height int, err error) {
	switch len(w.seps) {
	case 0:
		return 0, 0, nil
	case 1:
		return w.seps[0].page, 0, nil
	}
	var pb pageBuilder
	pb.buf = w.scratch
	level := w.seps
	for len(level) > 1 {
		var next []sepRef
		pb.reset()
		first := level[0]
		for _, s := range level {
			size := uvarintLen(uint64(s.n)) + s.n + 4
			if !pb.fits(size) {
				pn, err := w.emitPage(pb.buf, pageTypeNode, pb.n)
				if err != nil {
					return 0, 0, err
				}
				next = append(next, sepRef{off: first.off, n: first.n, page: pn})
				pb.reset()
				first = s
			}
			e := pb.add(size)
			i := binary.PutUvarint(e, uint64(s.n))
			i += copy(e[i:], w.arena[s.off:s.off+s.n])
			binary.LittleEndian.PutUint32(e[i:], s.page)
		}
		pn, err := w.emitPage(pb.buf, pageTypeNode, pb.n)
		if err != nil {
			return 0, 0, err
		}
		next = append(next, sepRef{off: first.off, n: first.n, page: pn})
		level = next
		height++
	}
	return level[0].page, height, nil
}

// release drops the writer's buffers.
func (w *Writer) release() {
	w.wbuf, w.scratch, w.leafPage = nil, nil, nil
	w.leaf = leafBuilder{}
	w.arena, w.seps, w.lastKey = nil, nil, nil
	w.rangeDel, w.rdArena = nil, nil
	w.bloom = nil
}

// Abort abandons the file and releases the writer's memory. The caller
// removes the file. The writer cannot be used afterwards.
func (w *Writer) Abort() {
	w.release()
	w.fail(errWriterDone)
}
