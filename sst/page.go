package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Page sizes a file may use.
const (
	MinPageSize     = 1024
	MaxPageSize     = 65536
	defaultPageSize = 4096
)

// maxValueSize is the largest value Writer.Add accepts: 256 MiB.
const maxValueSize = 256 << 20

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
)

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
