package sst

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Leaf and range-del pages in their three encodings (see the package
// comment): legacy entries (versions 1 and 2, and every range-del page)
// hold the encoded internal key whole; compact entries (version-3 leaves,
// flag leafFlagCompactKeys) hold the user key's suffix after a prefix the
// page stores once, and the trailer as a uvarint.

// maxInlineEntry is the largest leaf entry, slot included and counted with
// its whole user key, that keeps its value inline: P/16 (see the choice of
// the inline limit in doc/format.md). Larger values go to the value stream
// and the entry holds their offset. Versions 1 to 3 kept entries up to
// (P-10)/4 inline and put larger values in overflow pages of their own.
func maxInlineEntry(pageSize int) int { return pageSize / 16 }

// maxAlwaysInline is the longest value kept inline whatever the key's
// length: a reference would take about as many bytes, and 4 entries of the
// longest key still fit a leaf.
const maxAlwaysInline = 8

// leafEntry is one decoded leaf entry. Its slices alias the page.
type leafEntry struct {
	// suffix is the user key after the page's prefix (the whole user key
	// on pages without one).
	suffix     []byte
	trailer    uint64 // seqnum<<8 | kind
	value      []byte // the inline value as stored; nil when overflow
	valueLen   int    // stored length (compressed length when compressed)
	ovfPage    uint32 // first overflow page when overflow and not ref
	valueOff   uint64 // offset in the value stream when ref
	overflow   bool   // the value is not inline
	ref        bool   // ... but in the value stream (version 4)
	compressed bool   // the stored value is a Snappy block
}

// kind returns the entry's kind.
func (e *leafEntry) kind() base.Kind { return base.Kind(e.trailer & 0xff) }

// pointKind reports whether the entry has a kind a leaf may hold.
func (e *leafEntry) pointKind() bool {
	k := e.kind()
	return k == base.KindSet || k == base.KindDelete || k == base.KindMerge
}

// compactKeys reports whether a leaf page uses compact entries.
func compactKeys(page []byte) bool { return page[1]&leafFlagCompactKeys != 0 }

// valueFieldShift returns how many flag bits the value field of a leaf
// page's entries carries: 2 on pages flagged leafFlagValueFlags, 1 on the
// others (version-1 leaves and range-del pages).
func valueFieldShift(page []byte) uint {
	return 1 + uint(page[1]&leafFlagValueFlags)
}

// leafPrefix returns the user-key prefix a compact page stores after its
// slot array (nil on other pages); ok is false when it does not fit.
func leafPrefix(page []byte) (prefix []byte, ok bool) {
	if !compactKeys(page) {
		return nil, true
	}
	lo := pageHeaderSize + slotSize*pageCount(page)
	if lo+2 > len(page) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(page[lo:]))
	if n > len(page)-lo-2 {
		return nil, false
	}
	return page[lo+2 : lo+2+n : lo+2+n], true
}

// leafKeyAt decodes the key of the entry in slot i: the suffix and the
// trailer. ok is false when it is malformed. It reads no further than the
// key, for binary search.
func leafKeyAt(page []byte, i int) (suffix []byte, trailer uint64, next int, ok bool) {
	off := slotOffset(page, i)
	if off < pageHeaderSize {
		return nil, 0, 0, false
	}
	if compactKeys(page) {
		sl, off, ok := readUvarint(page, off, uint64(len(page)))
		if !ok || int(sl) > len(page)-off {
			return nil, 0, 0, false
		}
		end := off + int(sl)
		trailer, next, ok := readUvarint(page, end, math.MaxUint64)
		if !ok {
			return nil, 0, 0, false
		}
		return page[off:end:end], trailer, next, true
	}
	suffix, trailer, _, next, ok = legacyEntryAt(page, off)
	return suffix, trailer, next, ok
}

// legacyEntryAt decodes the head of the legacy entry at offset off:
// uvarint keyLen | uvarint valueField | encoded internal key. It returns
// the user key, the trailer, the value field and the offset of the tail.
func legacyEntryAt(page []byte, off int) (ukey []byte, trailer, vf uint64, tail int, ok bool) {
	kl, off, ok := readUvarint(page, off, uint64(len(page)))
	if !ok || kl < base.TrailerLen {
		return nil, 0, 0, 0, false
	}
	shift := valueFieldShift(page)
	vf, off, ok = readUvarint(page, off, maxValueSize<<shift|(1<<shift-1))
	if !ok || int(kl) > len(page)-off {
		return nil, 0, 0, 0, false
	}
	tail = off + int(kl)
	k := tail - base.TrailerLen
	return page[off:k:k], binary.LittleEndian.Uint64(page[k:]), vf, tail, true
}

// decodeLeafEntry decodes the entry in slot i of a leaf or range-del page.
// Every length and offset is checked against the page; ok is false for a
// malformed entry. It never panics.
func decodeLeafEntry(page []byte, i int) (e leafEntry, ok bool) {
	ok = e.decode(page, i)
	return e, ok
}

// decode is decodeLeafEntry into e, which it overwrites whole; the
// iterators' hot path, saving the copies of a returned struct.
func (e *leafEntry) decode(page []byte, i int) bool {
	var end int
	var ok bool
	*e = leafEntry{}
	if compactKeys(page) {
		var off int
		e.suffix, e.trailer, off, ok = leafKeyAt(page, i)
		if !ok {
			return false
		}
		var vf uint64
		vf, end, ok = readUvarint(page, off, maxValueSize<<2|3)
		if !ok {
			return false
		}
		e.valueLen, e.compressed, e.overflow = int(vf>>2), vf&2 != 0, vf&1 != 0
	} else {
		off := slotOffset(page, i)
		if off < pageHeaderSize {
			return false
		}
		var vf uint64
		e.suffix, e.trailer, vf, end, ok = legacyEntryAt(page, off)
		if !ok {
			return false
		}
		shift := valueFieldShift(page)
		e.valueLen, e.overflow = int(vf>>shift), vf&1 != 0
		e.compressed = shift == 2 && vf&2 != 0
	}
	if !e.overflow {
		if e.valueLen > len(page)-end {
			return false
		}
		e.value = page[end : end+e.valueLen : end+e.valueLen]
		return true
	}
	if page[1]&leafFlagValueRefs != 0 {
		e.ref = true
		e.valueOff, _, ok = readUvarint(page, end, math.MaxUint64)
		return ok
	}
	if end+4 > len(page) {
		return false
	}
	e.ovfPage = binary.LittleEndian.Uint32(page[end:])
	return true
}

// compareKeyParts compares the key (suffix, trailer) with (tsuf, ttrailer)
// in base.CompareInternal order: suffix ascending, then trailer
// descending.
func compareKeyParts(suffix []byte, trailer uint64, tsuf []byte, ttrailer uint64) int {
	if c := bytes.Compare(suffix, tsuf); c != 0 {
		return c
	}
	switch {
	case trailer > ttrailer:
		return -1
	case trailer < ttrailer:
		return 1
	}
	return 0
}

// searchLeaf returns the slot of the first entry of a leaf page that is >=
// target, or n when there is none. On a compact page the target is held
// against the page's prefix once; only suffixes are compared after that.
func searchLeaf(page []byte, n int, target base.InternalKey) int {
	tsuf := target.UserKey
	if prefix, _ := leafPrefix(page); len(prefix) > 0 {
		m := min(len(prefix), len(tsuf))
		switch c := bytes.Compare(tsuf[:m], prefix[:m]); {
		case c < 0, c == 0 && len(tsuf) < len(prefix):
			return 0 // target sorts before every key of the page
		case c > 0:
			return n // after every key
		}
		tsuf = tsuf[len(prefix):]
	}
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		suffix, trailer, _, ok := leafKeyAt(page, mid)
		if ok && compareKeyParts(suffix, trailer, tsuf, target.Trailer) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// compareLeafKeyAt compares the key of the entry in slot i with target in
// base.CompareInternal order; ok is false when the entry is malformed.
func compareLeafKeyAt(page []byte, i int, target base.InternalKey) (c int, ok bool) {
	suffix, trailer, _, ok := leafKeyAt(page, i)
	if !ok {
		return 0, false
	}
	prefix, _ := leafPrefix(page)
	m := min(len(prefix), len(target.UserKey))
	if c := bytes.Compare(prefix[:m], target.UserKey[:m]); c != 0 {
		return c, true
	}
	if len(target.UserKey) < len(prefix) {
		return 1, true
	}
	return compareKeyParts(suffix, trailer, target.UserKey[len(prefix):], target.Trailer), true
}

// userKeyAt reports whether the entry in slot i has user key ukey.
func userKeyAt(page []byte, i int, ukey []byte) bool {
	suffix, _, _, ok := leafKeyAt(page, i)
	if !ok {
		return false
	}
	prefix, _ := leafPrefix(page)
	return keyIs(prefix, suffix, ukey)
}

// keyIs reports whether prefix followed by suffix is ukey.
func keyIs(prefix, suffix, ukey []byte) bool {
	return len(ukey) == len(prefix)+len(suffix) && bytes.HasPrefix(ukey, prefix) && bytes.Equal(ukey[len(prefix):], suffix)
}

// appendUserKey appends the user key of an entry of page (prefix, then
// suffix) to dst.
func appendUserKey(dst, prefix, suffix []byte) []byte {
	return append(append(dst, prefix...), suffix...)
}

// checkLoadedLeaf validates a leaf or range-del page as it is read into the
// buffer pool, after its checksum. Range-del pages, read once when the file
// opens, are verified whole (checkLeafPage). For leaves it checks that the
// slot array and the prefix field lie in the page: that is all the readers
// need to stay in bounds, since every accessor checks the entry it decodes,
// its kind included, and fails with a corruption error naming the page. The
// checksum already rules out damage on disk, so the whole-structure walk,
// which would cost a scan about a quarter of its time (it decodes every
// entry once more and checks their order), runs on leaves only in builds
// with -tags invariants; CI runs the tests that way too.
func checkLoadedLeaf(page []byte, typ byte, b leafBounds) error {
	if invariants || typ == pageTypeRangeDel {
		return checkLeafPage(page, typ, b)
	}
	_, _, err := checkLeafBounds(page)
	return err
}

// checkLeafBounds verifies the slot array and, on compact pages, that the
// prefix field fits before every entry. It returns the entry count and the
// prefix.
func checkLeafBounds(page []byte) (n int, prefix []byte, err error) {
	n, err = checkSlots(page)
	if err != nil {
		return 0, nil, err
	}
	prefix, ok := leafPrefix(page)
	if !ok {
		return 0, nil, fmt.Errorf("key prefix overruns the page")
	}
	if lo := pageHeaderSize + slotSize*n; compactKeys(page) {
		// Entries start past the prefix field.
		for i := 0; i < n; i++ {
			if off := slotOffset(page, i); off < lo+2+len(prefix) {
				return 0, nil, fmt.Errorf("slot %d: offset %d inside the key prefix", i, off)
			}
		}
	}
	return n, prefix, nil
}

// leafBounds are what a leaf's references must stay within: overflow pages
// below ovfEnd, value-stream ranges below streamLen.
type leafBounds struct {
	ovfEnd    uint32
	streamLen uint64
}

// leafBounds returns the bounds of the file's leaves.
func (m *metadata) leafBounds() leafBounds {
	return leafBounds{ovfEnd: m.leafEnd(), streamLen: m.valueBytes}
}

// checkLeafPage verifies the whole body of a leaf (typ 1) or range-del (typ
// 5) page whose header was already checked: the bounds of checkLeafBounds,
// and that every entry decodes, keys are strictly increasing and within the
// size limit, kinds fit the page type, overflow references lie in pages
// [1, b.ovfEnd), value-stream references in [0, b.streamLen), and
// compressed values have a valid length.
func checkLeafPage(page []byte, typ byte, b leafBounds) error {
	ovfEnd := b.ovfEnd
	n, prefix, err := checkLeafBounds(page)
	if err != nil {
		return err
	}
	maxKey := MaxKeySize(len(page))
	var prevSuffix []byte
	var prevTrailer uint64
	for i := 0; i < n; i++ {
		e, ok := decodeLeafEntry(page, i)
		if !ok {
			return fmt.Errorf("slot %d: malformed entry", i)
		}
		if len(prefix)+len(e.suffix) > maxKey {
			return fmt.Errorf("slot %d: key of %d bytes exceeds %d", i, len(prefix)+len(e.suffix), maxKey)
		}
		switch typ {
		case pageTypeRangeDel:
			if e.kind() != base.KindRangeDelete {
				return fmt.Errorf("slot %d: kind %s in a range-del page", i, e.kind())
			}
			if e.overflow {
				return fmt.Errorf("slot %d: overflowed range deletion", i)
			}
			if bytes.Compare(e.suffix, e.value) >= 0 {
				return fmt.Errorf("slot %d: range deletion start is not before its end", i)
			}
		default:
			if !e.pointKind() {
				return fmt.Errorf("slot %d: kind %s in a leaf page", i, e.kind())
			}
			if e.ref {
				if e.valueLen == 0 || e.valueOff > b.streamLen || uint64(e.valueLen) > b.streamLen-e.valueOff {
					return fmt.Errorf("slot %d: value of %d bytes at stream offset %d outside the stream's %d bytes", i, e.valueLen, e.valueOff, b.streamLen)
				}
			} else if e.overflow {
				np := payloadPages(uint64(e.valueLen), len(page))
				if e.valueLen == 0 || e.ovfPage < 1 || uint64(e.ovfPage)+np > uint64(ovfEnd) {
					return fmt.Errorf("slot %d: overflow value of %d bytes at page %d outside pages [1, %d)", i, e.valueLen, e.ovfPage, ovfEnd)
				}
			} else if e.compressed {
				// The body is checked when the value is decoded; its
				// header here, so a bad length fails at load.
				if _, err := decompressedLen(e.value); err != nil {
					return fmt.Errorf("slot %d: %w", i, err)
				}
			}
		}
		// Every key of the page shares the prefix: suffixes order them.
		if i > 0 && compareKeyParts(prevSuffix, prevTrailer, e.suffix, e.trailer) >= 0 {
			return fmt.Errorf("slot %d: key not after slot %d", i, i-1)
		}
		prevSuffix, prevTrailer = e.suffix, e.trailer
	}
	return nil
}
