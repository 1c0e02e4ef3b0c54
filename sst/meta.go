package sst

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Metadata body offsets, part of the on-disk format.
const (
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
