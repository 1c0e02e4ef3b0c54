// Package sst writes and reads one immutable sorted string table: the file a
// memtable flush or a compaction produces. A file is a sequence of fixed-size
// pages; point entries live in leaf pages indexed by a B+Tree stored in the
// same file, and a Bloom filter over the user keys lets Get skip most files
// that do not hold a key.
//
// # File layout
//
// All integers are little-endian. The page size P is a power of two between
// 1024 and 65536 (default 4096); the file is exactly totalPages*P bytes.
//
//	page 0                metadata page (type 6), written last
//	pages 1 .. L+O        leaf pages (type 1) in key order, with the O value
//	                      pages (type 7) of the value stream between them,
//	                      each written when full (versions 1 to 3: the O
//	                      overflow pages (type 3) of a leaf's large values
//	                      just before it)
//	next R pages          range-deletion leaf pages (type 5)
//	next N pages          B+Tree node pages (type 2), level by level from the
//	                      bottom; the last one is the root
//	next D pages          value directory pages (type 8, version 4)
//	next B pages          Bloom filter pages (type 4)
//
// # Page header (every page)
//
//	offset size field
//	0      1    page type: 1 leaf, 2 node, 3 overflow, 4 bloom, 5 range-del
//	            leaf, 6 metadata, 7 value, 8 value directory
//	1      1    flags, on leaf pages (type 1) only: 0x01 the value field
//	            carries two flags (version 2 and on), 0x02 compact keys
//	            (version 3 and on), 0x04 value-stream references (version
//	            4); 0 on every other page
//	2      2    uint16 count: entries (leaf, node, range-del pages), payload
//	            bytes (overflow, bloom, value, value directory pages), body
//	            bytes (metadata page)
//	4      4    uint32 CRC32C (Castagnoli) of page[0:4], then page[8:P],
//	            then the page number as 4 little-endian bytes
//
// Mixing the page number into the checksum makes a page written or read at
// the wrong offset fail its check. Unused bytes are zero.
//
// # Leaf pages (types 1 and 5) and node pages (type 2)
//
//	+--------+----------------------+--------+-----------+-----------------------+
//	| header | slot[0] .. slot[n-1] | prefix | free, 0s  | entry[n-1] .. entry[0]|
//	+--------+----------------------+--------+-----------+-----------------------+
//	  8 bytes  n uint16 offsets of    compact  entries are packed from the end
//	           the entries, in key    leaves   of the page backwards; slot i
//	           order                  only     points at the i-th smallest entry
//
//	prefix (compact leaves, flag 0x02): uint16 length p | p bytes, the user-key
//	  prefix every entry of the page shares (the longest one, so a page of one
//	  entry has its whole key there)
//	compact leaf entry (version 3):
//	  uvarint suffixLen | suffix | uvarint trailer | uvarint valueField | tail
//	  suffix  = the user key past the page's prefix
//	  trailer = seqnum<<8 | kind
//	legacy leaf entry (versions 1 and 2, and every range-del page):
//	  uvarint keyLen | uvarint valueField | key | tail
//	  key     = encoded internal key: user key, then uint64 seqnum<<8|kind
//	valueField = valueLen<<2 | compressed<<1 | overflow   (flag 0x01 set)
//	             valueLen<<1 | overflow                   (no flags)
//	tail = the stored value (overflow = 0); with overflow = 1 on a page
//	       flagged 0x04, the uvarint offset of the stored value in the
//	       value stream, and otherwise (versions 1 to 3) the uint32 first
//	       overflow page, the stored value then filling ceil(valueLen/(P-8))
//	       consecutive overflow pages, P-8 payload bytes each but the last.
//	       valueLen is the stored length. When compressed = 1 the stored
//	       bytes are one Snappy block (the block format of
//	       github.com/golang/snappy, whose header gives the decoded length);
//	       the value is its decoding.
//	node entry: uvarint keyLen | key | uint32 child page
//	  key  = the encoded first internal key of the child (its separator)
//
// Entries in a page are strictly increasing in base.CompareInternal order;
// on a compact page the suffixes and trailers alone order them, and a
// search holds the target against the prefix once. A value is stored
// inline when the entry plus its slot, counted with its whole user key,
// takes at most P/16 bytes (or its value has at most 8), and otherwise
// joins the value stream; a leaf always holds at least 4 entries. (Versions
// 1 to 3 kept entries up to (P-10)/4 bytes inline and wrote larger values
// to overflow pages just before the leaf that references them.) Writers compress a
// value only when that saves an eighth of it (see Compression); the rules
// above count stored bytes. Range-deletion pages hold entries whose key is
// (start, seqnum, KindRangeDelete) and whose inline value is the exclusive
// end user key; they carry no flags, so their entries are legacy ones with
// value field valueLen<<1 (never overflowed or compressed). To find the
// leaf for a target key, a node picks its last child whose separator is <=
// the target (child 0 if none).
//
// # Overflow, Bloom, value and value directory pages (types 3, 4, 7, 8)
//
// After the header, count payload bytes. Bloom pages hold the encoding of
// package bloom's Builder.Finish over the distinct user keys of the point
// entries, split over pages exactly like an overflow value.
//
// The value stream (version 4) is the stored values that are not inline,
// back to back in the order their entries were added. Value page i holds
// stream bytes [i*(P-8), (i+1)*(P-8)): every value page is full but the
// last. The writer emits a value page as soon as it fills, so the value
// pages of one value need not be consecutive: the directory pages list the
// page number of every value page in stream order, as uint32s (count =
// 4 × the pages listed), and the stored value at stream offset o with
// length n is read from the value pages o/(P-8) on, starting o%(P-8) bytes
// past the first one's header.
//
// # Metadata page (type 6, page 0)
//
//	offset size field
//	8      8    magic "STRATSST"
//	16     4    format version: 3 (1 and 2 are read too; see Versions)
//	20     4    page size P
//	24     4    leaf page count L
//	28     4    overflow page count O
//	32     4    node page count N
//	36     4    root page (a leaf when height is 0; 0 when L is 0)
//	40     4    tree height: node levels above the leaves
//	44     4    first range-del page (always 1+L+O)
//	48     4    range-del page count R
//	52     4    first Bloom page (always 1+L+O+R+N)
//	56     4    Bloom page count B
//	60     4    Bloom encoding length in bytes
//	64     8    point entry count
//	72     8    range deletion count
//	80     8    smallest seqnum (over points and range deletions)
//	88     8    largest seqnum
//	96     8    Bloom bits per key, float64 bits (0 without a filter)
//	104    4    total page count, 1+L+O+R+N+D+B
//	108    8    value stream length in bytes (version 4 only)
//	116    4    value directory page count D (version 4 only)
//	108    2+k  smallest point key: uint16 length k, encoded internal key
//	            (at offset 120 in version 4)
//	...    2+k  largest point key, the same way (both lengths 0 without
//	            point entries)
//
// The header's count is the body length, offset 8 to the end of the
// largest key: 100 + (2+k) + (2+k') for keys of k and k' bytes (112 + ...
// in version 4). In version 4, O counts the value pages and is
// ceil(stream length / (P-8)); D is ceil(4*O / (P-8)).
//
// # Worked example
//
// A leaf of a 1024-byte-page file holding the single entry "a"#5,SET = "xy"
// (too short to compress):
//
//	offset 0:    01 07 01 00 cc cc cc cc   type 1, flags 0x07, count 1, CRC32C
//	offset 8:    fa 03                     slot 0 = 0x3fa = 1018
//	offset 10:   01 00 61                  prefix: length 1, "a"
//	offset 13:   00 ... 00                 free space
//	offset 1018: 00                        suffixLen 0 (the prefix is the key)
//	             81 0a                     trailer 5<<8|1 = 0x501 as a uvarint
//	             08                        valueLen 2 <<2 | 0 | 0 (inline)
//	             78 79                     "xy"
//
// A file holding only "b"#6,SET = 100 random bytes (over P/16 = 64, and
// Snappy would not save an eighth) keeps the value in the value stream.
// Its leaf, page 1, ends with the entry
//
//	00 81 0c 91 03 00                       suffix "", trailer 0x601, value
//	                                        field 100<<2 | overflow = 0x191,
//	                                        stream offset 0
//
// page 2 is the value page, written at Finish: header 07 00 64 00 ... (type
// 7, count 100), the 100 bytes after it; and the directory page, the last
// one without a filter, lists page 2: 08 00 04 00 ... 02 00 00 00.
//
// With Snappy, the 40-byte value "abcdefgh" repeated five times is stored
// in 13 bytes: value field 0x36 (13<<2 | compressed), then the block
// 28 1c 61 62 63 64 65 66 67 68 7e 08 00 (decoded length 40, an 8-byte
// literal "abcdefgh", a copy of 32 bytes from offset 8).
//
// # Versions
//
// Version 1 files have no page flags and no compression; version 2 added
// the value field's compressed flag (leaf flag 0x01); version 3 added
// compact keys (leaf flag 0x02): a prefix stored once per leaf, suffixes,
// and uvarint trailers; version 4 added the value stream (leaf flag 0x04,
// value and value directory pages, two metadata fields) in place of
// overflow pages. A reader accepts all four: the flags byte of each leaf
// page says how to read its entries, and the metadata version says which
// flags a page may carry.
//
// # Constants that must never change
//
// The magic, the page type numbers, the header layout, the checksum (CRC32C
// over page[0:4], page[8:P], page number), the entry encodings of each
// version, the metadata offsets and the kinds in package base. A layout
// change needs a new format version, and readers must keep reading every
// earlier one.
package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Page sizes a file may use.
const (
	MinPageSize     = 1024
	MaxPageSize     = 65536
	DefaultPageSize = 4096
)

// MaxValueSize is the largest value Writer.Add accepts: 256 MiB.
const MaxValueSize = 256 << 20

// MaxKeySize returns the largest user key a file of the given page size
// accepts: pageSize/4 - 32 bytes (992 for 4096-byte pages).
//
// The bound keeps the tree well formed. An encoded internal key is then at
// most P/4-24 bytes, so a node entry with its slot (2-byte length, key,
// 4-byte child, 2-byte slot) takes at most P/4-16 bytes and a node page holds
// at least 4 separators (the tree needs 3 or more for a fan-out that keeps
// it shallow); a leaf entry whose value overflowed takes at most P/4-9
// bytes with its slot, under the (P-10)/4 bound that lets a leaf hold 4
// entries; and the metadata page has room for both boundary keys.
func MaxKeySize(pageSize int) int { return pageSize/4 - 32 }

// Format constants. They are part of the on-disk format.
const (
	magic = "STRATSST"
	// formatVersion is the version new files are written with; readers
	// accept every version from minFormatVersion on.
	formatVersion    = 4
	minFormatVersion = 1

	pageHeaderSize = 8
	slotSize       = 2

	pageTypeLeaf     byte = 1
	pageTypeNode     byte = 2
	pageTypeOverflow byte = 3
	pageTypeBloom    byte = 4
	pageTypeRangeDel byte = 5
	pageTypeMeta     byte = 6
	pageTypeValue    byte = 7
	pageTypeValueDir byte = 8

	// leafFlagValueFlags, in byte 1 of a version-2 leaf page, says the
	// value field of its entries is valueLen<<2 | compressed<<1 | overflow.
	// Version-1 pages have no flags: the field is valueLen<<1 | overflow.
	leafFlagValueFlags byte = 0x01
	// leafFlagCompactKeys, in byte 1 of a version-3 leaf page (set with
	// leafFlagValueFlags), says the page stores the user-key prefix all its
	// entries share once, after the slot array, and its entries hold the
	// rest of the key and the trailer as a uvarint.
	leafFlagCompactKeys byte = 0x02
	// leafFlagValueRefs, in byte 1 of a version-4 leaf page (set with the
	// two flags above), says an entry whose value field has the overflow
	// bit holds, as its tail, the uvarint offset of its value in the
	// file's value stream instead of a uint32 overflow page.
	leafFlagValueRefs byte = 0x04

	// Metadata body offsets.
	metaMagicOff     = 8
	metaVersionOff   = 16
	metaPageSizeOff  = 20
	metaLeafOff      = 24
	metaOverflowOff  = 28
	metaNodeOff      = 32
	metaRootOff      = 36
	metaHeightOff    = 40
	metaRDFirstOff   = 44
	metaRDPagesOff   = 48
	metaBloomOff     = 52
	metaBloomPgOff   = 56
	metaBloomLenOff  = 60
	metaEntriesOff   = 64
	metaRangeDelsOff = 72
	metaSmallSeqOff  = 80
	metaLargeSeqOff  = 88
	metaBitsOff      = 96
	metaTotalOff     = 104
	metaKeysOff      = 108 // versions 1 to 3
	// Version 4 puts the value stream's fields before the keys.
	metaValueBytesOff   = 108
	metaValueDirOff     = 116
	metaKeysOffVersion4 = 120
)

// maxHeight bounds the node levels a reader follows, so a corrupt file
// cannot send a descent around a cycle. With at least 3 children per node
// and 2^32 pages a real tree is never deeper than 21.
const maxHeight = 32

// pageTypeName names a page type for error messages.
func pageTypeName(t byte) string {
	switch t {
	case pageTypeLeaf:
		return "leaf"
	case pageTypeNode:
		return "node"
	case pageTypeOverflow:
		return "overflow"
	case pageTypeBloom:
		return "bloom"
	case pageTypeRangeDel:
		return "range-del"
	case pageTypeMeta:
		return "metadata"
	case pageTypeValue:
		return "value"
	case pageTypeValueDir:
		return "value-directory"
	}
	return fmt.Sprintf("unknown(%d)", t)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pageChecksum computes the checksum of page as stored at page number pn.
func pageChecksum(page []byte, pn uint32) uint32 {
	c := crc32.Update(0, crcTable, page[:4])
	c = crc32.Update(c, crcTable, page[pageHeaderSize:])
	// The page number's 4 bytes, byte at a time with the table: passing a
	// local array to crc32.Update would move it to the heap.
	c = ^c
	for i := 0; i < 4; i++ {
		c = crcTable[byte(c)^byte(pn>>(8*i))] ^ c>>8
	}
	return ^c
}

// sealPage fills in the header of page for page number pn. Leaf pages
// get the flags of the current format version; other pages none.
func sealPage(page []byte, typ byte, count int, pn uint32) {
	page[0] = typ
	page[1] = 0
	if typ == pageTypeLeaf {
		page[1] = leafFlagValueFlags | leafFlagCompactKeys | leafFlagValueRefs
	}
	binary.LittleEndian.PutUint16(page[2:], uint16(count))
	binary.LittleEndian.PutUint32(page[4:], pageChecksum(page, pn))
}

// validPageSize reports whether p is a page size a file may use.
func validPageSize(p int) bool {
	return p >= MinPageSize && p <= MaxPageSize && p&(p-1) == 0
}

// pageCount returns the count field of a page header.
func pageCount(page []byte) int { return int(binary.LittleEndian.Uint16(page[2:])) }

// checkPageHeader verifies the checksum, type and flags byte of page, read
// from page number pn: the flags must be a subset of allowed (0 for every
// page but a version-2 leaf).
func checkPageHeader(page []byte, pn uint32, typ byte, allowed byte) error {
	if len(page) < MinPageSize {
		return fmt.Errorf("page of %d bytes is too short", len(page))
	}
	if got, want := binary.LittleEndian.Uint32(page[4:]), pageChecksum(page, pn); got != want {
		return fmt.Errorf("checksum mismatch: stored %#08x, computed %#08x", got, want)
	}
	if page[0] != typ {
		return fmt.Errorf("page type %s, want %s", pageTypeName(page[0]), pageTypeName(typ))
	}
	if page[1]&^allowed != 0 {
		return fmt.Errorf("header flags %#x, allowed %#x", page[1], allowed)
	}
	return nil
}

// payloadCapacity is the payload of one overflow or Bloom page.
func payloadCapacity(pageSize int) int { return pageSize - pageHeaderSize }

// payloadPages returns how many overflow or Bloom pages hold n bytes.
func payloadPages(n uint64, pageSize int) uint64 {
	c := uint64(payloadCapacity(pageSize))
	return (n + c - 1) / c
}

// checkPayloadPage verifies the body of an overflow or Bloom page (the
// header was already checked).
func checkPayloadPage(page []byte) error {
	if n := pageCount(page); n == 0 || n > len(page)-pageHeaderSize {
		return fmt.Errorf("payload length %d out of range [1, %d]", n, len(page)-pageHeaderSize)
	}
	return nil
}

// maxEncodedKey is the longest encoded internal key a page may hold.
func maxEncodedKey(pageSize int) int { return MaxKeySize(pageSize) + base.TrailerLen }

// uvarintLen returns the length of v's uvarint encoding.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// readUvarint decodes a uvarint at page[off:] that must be at most limit. It
// returns the value and the offset after it; ok is false when the varint is
// malformed, runs past the page or exceeds limit.
func readUvarint(page []byte, off int, limit uint64) (v uint64, next int, ok bool) {
	if off >= len(page) {
		return 0, 0, false
	}
	// Fast path: one byte.
	if b := page[off]; b < 0x80 {
		v = uint64(b)
		return v, off + 1, v <= limit
	}
	v, n := binary.Uvarint(page[off:])
	if n <= 0 || v > limit {
		return 0, 0, false
	}
	return v, off + n, true
}

// slotOffset returns the entry offset in slot i, or -1 when the slot array
// does not fit the page.
func slotOffset(page []byte, i int) int {
	s := pageHeaderSize + slotSize*i
	if i < 0 || s+slotSize > len(page) {
		return -1
	}
	return int(binary.LittleEndian.Uint16(page[s:]))
}

// decodeNodeEntry decodes the entry in slot i of a node page: the separator
// (an encoded internal key) and the child page. ok is false for a malformed
// entry.
func decodeNodeEntry(page []byte, i int) (sep []byte, child uint32, ok bool) {
	off := slotOffset(page, i)
	if off < pageHeaderSize {
		return nil, 0, false
	}
	kl, off, ok := readUvarint(page, off, uint64(len(page)))
	if !ok || kl < base.TrailerLen {
		return nil, 0, false
	}
	end := off + int(kl)
	if end+4 > len(page) {
		return nil, 0, false
	}
	return page[off:end:end], binary.LittleEndian.Uint32(page[end:]), true
}

// compareEncoded compares an encoded internal key (at least 8 bytes) with k
// in base.CompareInternal order.
func compareEncoded(enc []byte, k base.InternalKey) int {
	n := len(enc) - base.TrailerLen
	if c := bytes.Compare(enc[:n], k.UserKey); c != 0 {
		return c
	}
	t := binary.LittleEndian.Uint64(enc[n:])
	switch {
	case t > k.Trailer:
		return -1
	case t < k.Trailer:
		return 1
	}
	return 0
}

// compareEncodedKeys compares two encoded internal keys.
func compareEncodedKeys(a, b []byte) int {
	bk, _ := base.DecodeInternalKey(b)
	return compareEncoded(a, bk)
}

// checkSlots verifies the parts of a leaf or node page common to both: a
// non-zero count and a slot array that fits, with every slot pointing past
// it.
func checkSlots(page []byte) (n int, err error) {
	n = pageCount(page)
	if n == 0 {
		return 0, errors.New("page has no entries")
	}
	lo := pageHeaderSize + slotSize*n
	if lo > len(page) {
		return 0, fmt.Errorf("slot array of %d entries overruns the page", n)
	}
	for i := 0; i < n; i++ {
		if off := slotOffset(page, i); off < lo || off >= len(page) {
			return 0, fmt.Errorf("slot %d: offset %d out of range [%d, %d)", i, off, lo, len(page))
		}
	}
	return n, nil
}

// checkNodePage verifies the body of a node page whose header was already
// checked: every entry decodes, separators are strictly increasing and
// children lie in pages [1, total).
func checkNodePage(page []byte, total uint32) error {
	n, err := checkSlots(page)
	if err != nil {
		return err
	}
	maxKey := maxEncodedKey(len(page))
	var prev []byte
	for i := 0; i < n; i++ {
		sep, child, ok := decodeNodeEntry(page, i)
		if !ok {
			return fmt.Errorf("slot %d: malformed entry", i)
		}
		if len(sep) > maxKey {
			return fmt.Errorf("slot %d: separator of %d bytes exceeds %d", i, len(sep), maxKey)
		}
		if child < 1 || child >= total {
			return fmt.Errorf("slot %d: child page %d outside [1, %d)", i, child, total)
		}
		if prev != nil && compareEncodedKeys(prev, sep) >= 0 {
			return fmt.Errorf("slot %d: separator not after slot %d", i, i-1)
		}
		prev = sep
	}
	return nil
}

// metadata is the decoded metadata page.
type metadata struct {
	version       uint32
	pageSize      int
	leafPages     uint32
	overflowPages uint32
	nodePages     uint32
	root          uint32
	height        int
	rangeDelFirst uint32
	rangeDelPages uint32
	bloomFirst    uint32
	bloomPages    uint32
	bloomLen      uint32
	entries       uint64
	rangeDels     uint64
	smallestSeq   base.SeqNum
	largestSeq    base.SeqNum
	bloomBits     float64
	totalPages    uint32
	smallest      []byte // encoded; empty without point entries
	largest       []byte
	// Version 4: the value stream's length in bytes, held in the
	// overflowPages value pages of the leaf section, whose page numbers
	// the valueDirPages directory pages list (they follow the node pages).
	valueBytes    uint64
	valueDirPages uint32
}

// leafEnd is one past the last page of the leaf and overflow section.
func (m *metadata) leafEnd() uint32 { return 1 + m.leafPages + m.overflowPages }

// nodeFirst is the first node page.
func (m *metadata) nodeFirst() uint32 { return m.rangeDelFirst + m.rangeDelPages }

// valueDirFirst is the first value-directory page (version 4).
func (m *metadata) valueDirFirst() uint32 { return m.nodeFirst() + m.nodePages }

// keysOff is the offset of the boundary keys in the metadata page.
func (m *metadata) keysOff() int {
	if m.version >= 4 {
		return metaKeysOffVersion4
	}
	return metaKeysOff
}

// encodeMeta writes m into page (len(page) == m.pageSize, zeroed) and seals
// it as page 0.
func encodeMeta(m *metadata, page []byte) {
	le := binary.LittleEndian
	copy(page[metaMagicOff:], magic)
	le.PutUint32(page[metaVersionOff:], m.version)
	le.PutUint32(page[metaPageSizeOff:], uint32(m.pageSize))
	le.PutUint32(page[metaLeafOff:], m.leafPages)
	le.PutUint32(page[metaOverflowOff:], m.overflowPages)
	le.PutUint32(page[metaNodeOff:], m.nodePages)
	le.PutUint32(page[metaRootOff:], m.root)
	le.PutUint32(page[metaHeightOff:], uint32(m.height))
	le.PutUint32(page[metaRDFirstOff:], m.rangeDelFirst)
	le.PutUint32(page[metaRDPagesOff:], m.rangeDelPages)
	le.PutUint32(page[metaBloomOff:], m.bloomFirst)
	le.PutUint32(page[metaBloomPgOff:], m.bloomPages)
	le.PutUint32(page[metaBloomLenOff:], m.bloomLen)
	le.PutUint64(page[metaEntriesOff:], m.entries)
	le.PutUint64(page[metaRangeDelsOff:], m.rangeDels)
	le.PutUint64(page[metaSmallSeqOff:], uint64(m.smallestSeq))
	le.PutUint64(page[metaLargeSeqOff:], uint64(m.largestSeq))
	le.PutUint64(page[metaBitsOff:], math.Float64bits(m.bloomBits))
	le.PutUint32(page[metaTotalOff:], m.totalPages)
	if m.version >= 4 {
		le.PutUint64(page[metaValueBytesOff:], m.valueBytes)
		le.PutUint32(page[metaValueDirOff:], m.valueDirPages)
	}
	off := m.keysOff()
	le.PutUint16(page[off:], uint16(len(m.smallest)))
	off += 2 + copy(page[off+2:], m.smallest)
	le.PutUint16(page[off:], uint16(len(m.largest)))
	off += 2 + copy(page[off+2:], m.largest)
	sealPage(page, pageTypeMeta, off-pageHeaderSize, 0)
}

// pageSizeMismatchError reports a metadata page whose page size field is a
// valid page size other than the length of the buffer it was read into.
type pageSizeMismatchError struct{ fileSize, bufSize int }

func (e *pageSizeMismatchError) Error() string {
	return fmt.Sprintf("file page size %d, read with page size %d", e.fileSize, e.bufSize)
}

// decodeMeta validates a metadata page read into page (whose length is the
// page size it was read with) from a file of fileSize bytes, and decodes
// it. Errors describe what failed; the caller names file and page. When the
// page size field holds a valid size other than len(page), the error is a
// *pageSizeMismatchError and nothing else was checked.
func decodeMeta(page []byte, fileSize int64) (*metadata, error) {
	le := binary.LittleEndian
	if len(page) < MinPageSize {
		return nil, fmt.Errorf("metadata page of %d bytes is too short", len(page))
	}
	if string(page[metaMagicOff:metaMagicOff+len(magic)]) != magic {
		return nil, fmt.Errorf("bad magic %q", page[metaMagicOff:metaMagicOff+len(magic)])
	}
	version := le.Uint32(page[metaVersionOff:])
	if version < minFormatVersion || version > formatVersion {
		return nil, fmt.Errorf("unknown format version %d (this build reads %d to %d)", version, minFormatVersion, formatVersion)
	}
	ps := le.Uint32(page[metaPageSizeOff:])
	if !validPageSize(int(ps)) {
		return nil, fmt.Errorf("invalid page size %d", ps)
	}
	if int(ps) != len(page) {
		return nil, &pageSizeMismatchError{fileSize: int(ps), bufSize: len(page)}
	}
	if err := checkPageHeader(page, 0, pageTypeMeta, 0); err != nil {
		return nil, err
	}
	m := &metadata{
		version:       version,
		pageSize:      int(ps),
		leafPages:     le.Uint32(page[metaLeafOff:]),
		overflowPages: le.Uint32(page[metaOverflowOff:]),
		nodePages:     le.Uint32(page[metaNodeOff:]),
		root:          le.Uint32(page[metaRootOff:]),
		rangeDelFirst: le.Uint32(page[metaRDFirstOff:]),
		rangeDelPages: le.Uint32(page[metaRDPagesOff:]),
		bloomFirst:    le.Uint32(page[metaBloomOff:]),
		bloomPages:    le.Uint32(page[metaBloomPgOff:]),
		bloomLen:      le.Uint32(page[metaBloomLenOff:]),
		entries:       le.Uint64(page[metaEntriesOff:]),
		rangeDels:     le.Uint64(page[metaRangeDelsOff:]),
		smallestSeq:   base.SeqNum(le.Uint64(page[metaSmallSeqOff:])),
		largestSeq:    base.SeqNum(le.Uint64(page[metaLargeSeqOff:])),
		bloomBits:     math.Float64frombits(le.Uint64(page[metaBitsOff:])),
		totalPages:    le.Uint32(page[metaTotalOff:]),
	}
	height := le.Uint32(page[metaHeightOff:])
	if version >= 4 {
		m.valueBytes = le.Uint64(page[metaValueBytesOff:])
		m.valueDirPages = le.Uint32(page[metaValueDirOff:])
	}

	// The two boundary keys.
	off := m.keysOff()
	var keys [2][]byte
	for i := range keys {
		if off+2 > len(page) {
			return nil, errors.New("boundary keys overrun the page")
		}
		n := int(le.Uint16(page[off:]))
		off += 2
		if n > len(page)-off {
			return nil, errors.New("boundary keys overrun the page")
		}
		keys[i] = page[off : off+n : off+n]
		off += n
	}
	if got := pageCount(page); got != off-pageHeaderSize {
		return nil, fmt.Errorf("body length %d, want %d", got, off-pageHeaderSize)
	}
	m.smallest, m.largest = keys[0], keys[1]

	// Sections follow each other in a fixed order; every count is checked
	// in 64 bits so no sum wraps.
	P := uint64(ps)
	L, O, R, N, B := uint64(m.leafPages), uint64(m.overflowPages), uint64(m.rangeDelPages), uint64(m.nodePages), uint64(m.bloomPages)
	D := uint64(m.valueDirPages)
	total := 1 + L + O + R + N + D + B
	if total != uint64(m.totalPages) {
		return nil, fmt.Errorf("total page count %d, sections add up to %d", m.totalPages, total)
	}
	if fileSize < 0 || uint64(fileSize) != total*P {
		return nil, fmt.Errorf("file size %d, want %d pages of %d bytes", fileSize, total, P)
	}
	if uint64(m.rangeDelFirst) != 1+L+O {
		return nil, fmt.Errorf("range-del section starts at page %d, want %d", m.rangeDelFirst, 1+L+O)
	}
	if uint64(m.bloomFirst) != 1+L+O+R+N+D {
		return nil, fmt.Errorf("bloom section starts at page %d, want %d", m.bloomFirst, 1+L+O+R+N+D)
	}
	if version >= 4 {
		// O counts value pages: every one full but the last, which holds
		// at least a byte; the directory lists each once.
		c := uint64(payloadCapacity(m.pageSize))
		pages := m.valueBytes / c // no rounding up: it could wrap
		if m.valueBytes%c != 0 {
			pages++
		}
		if pages != O {
			return nil, fmt.Errorf("value stream of %d bytes in %d value pages", m.valueBytes, O)
		}
		if payloadPages(O*4, m.pageSize) != D {
			return nil, fmt.Errorf("directory of %d value pages in %d pages", O, D)
		}
	}
	if payloadPages(uint64(m.bloomLen), m.pageSize) != B {
		return nil, fmt.Errorf("bloom filter of %d bytes in %d pages", m.bloomLen, B)
	}
	if B > 0 && !(m.bloomBits > 0 && m.bloomBits <= 1e6) {
		return nil, fmt.Errorf("bloom bits per key %v out of range", m.bloomBits)
	}
	if B == 0 && m.bloomBits != 0 {
		return nil, fmt.Errorf("bloom bits per key %v without a filter", m.bloomBits)
	}
	if (m.rangeDels == 0) != (R == 0) || R > m.rangeDels {
		return nil, fmt.Errorf("%d range deletions in %d pages", m.rangeDels, R)
	}
	if (m.entries == 0) != (L == 0) || L > m.entries {
		return nil, fmt.Errorf("%d point entries in %d leaf pages", m.entries, L)
	}
	if m.entries == 0 && O != 0 {
		return nil, fmt.Errorf("%d overflow pages without point entries", O)
	}
	if m.smallestSeq > m.largestSeq {
		return nil, fmt.Errorf("smallest seqnum %d above largest %d", m.smallestSeq, m.largestSeq)
	}
	if height > maxHeight {
		return nil, fmt.Errorf("tree height %d exceeds %d", height, maxHeight)
	}
	m.height = int(height)
	switch {
	case L == 0:
		if m.root != 0 || height != 0 || N != 0 {
			return nil, fmt.Errorf("root %d, height %d, %d node pages without leaves", m.root, height, N)
		}
	case L == 1:
		if height != 0 || N != 0 || m.root < 1 || uint64(m.root) >= 1+L+O {
			return nil, fmt.Errorf("root %d, height %d, %d node pages with one leaf", m.root, height, N)
		}
	default:
		if height == 0 || N < uint64(height) || uint64(m.root) != 1+L+O+R+N-1 {
			return nil, fmt.Errorf("root %d, height %d, %d node pages with %d leaves", m.root, height, N, L)
		}
	}
	if m.entries == 0 {
		if len(m.smallest) != 0 || len(m.largest) != 0 {
			return nil, errors.New("boundary keys without point entries")
		}
		return m, nil
	}
	maxKey := maxEncodedKey(m.pageSize)
	for _, k := range keys {
		if len(k) < base.TrailerLen || len(k) > maxKey {
			return nil, fmt.Errorf("boundary key of %d bytes", len(k))
		}
		ik, _ := base.DecodeInternalKey(k)
		if kind := ik.Kind(); kind != base.KindSet && kind != base.KindDelete && kind != base.KindMerge {
			return nil, fmt.Errorf("boundary key of kind %s", kind)
		}
	}
	if compareEncodedKeys(m.smallest, m.largest) > 0 {
		return nil, errors.New("smallest key above largest")
	}
	return m, nil
}
