package sst

import (
	"fmt"
	"slices"

	"github.com/golang/snappy"
)

// Compression selects how a Writer stores values.
//
// Values are compressed one at a time, not page by page: a leaf page stays a
// fixed-size, binary-searchable page in the buffer pool, and a point lookup
// decompresses only the value it returns. A value is stored compressed only
// when that saves at least an eighth of it (LevelDB's rule), so data that
// does not compress costs nothing but the attempt.
type Compression uint8

// The compressions a Writer offers.
const (
	// NoCompression stores every value as it is.
	NoCompression Compression = iota
	// SnappyCompression stores a value as a Snappy block
	// (github.com/golang/snappy, the block format, not the framed stream)
	// when that saves at least an eighth of its bytes.
	SnappyCompression
)

// minCompressLen is the shortest value a Writer tries to compress: below
// it Snappy's header and tags leave nothing to gain.
const minCompressLen = 16

// Values that do not compress are stored as they are, but trying costs a
// Snappy pass over every value, in every flush and every merge. After
// missesBeforeSkipping values in a row that did not compress, a writer
// tries only one value in every probeEvery (the others are stored as they
// are) until one compresses again. Incompressible data (random bytes,
// already compressed or encrypted payloads) then costs a sixteenth of the
// attempts; data that compresses is tried value by value.
const (
	missesBeforeSkipping = 16
	probeEvery           = 16
)

// compressor holds the scratch buffer of a Writer's compressed values and
// its count of values in a row that did not compress.
type compressor struct {
	kind   Compression
	buf    []byte
	misses int
	skip   int // values to store as they are before the next attempt
}

// compress returns the bytes to store for value and whether they are
// compressed. The result aliases the compressor's buffer or value; it is
// valid until the next call.
func (c *compressor) compress(value []byte) ([]byte, bool) {
	if c.kind != SnappyCompression || len(value) < minCompressLen {
		return value, false
	}
	if c.skip > 0 {
		c.skip--
		return value, false
	}
	if n := snappy.MaxEncodedLen(len(value)); n > len(c.buf) {
		c.buf = make([]byte, n)
	}
	enc := snappy.Encode(c.buf, value)
	if len(enc) > len(value)-len(value)/8 {
		if c.misses++; c.misses >= missesBeforeSkipping {
			c.skip = probeEvery - 1
		}
		return value, false
	}
	c.misses = 0
	return enc, true
}

// decompressedLen returns the length a compressed value decodes to, checked
// against maxValueSize.
func decompressedLen(src []byte) (int, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return 0, fmt.Errorf("compressed value: %w", err)
	}
	if n > maxValueSize {
		return 0, fmt.Errorf("compressed value decodes to %d bytes, above the limit of %d", n, maxValueSize)
	}
	return n, nil
}

// appendDecompressed appends the decoded form of the Snappy block src to
// dst. It allocates only when dst lacks room.
func appendDecompressed(dst, src []byte) ([]byte, error) {
	n, err := decompressedLen(src)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	dec, err := snappy.Decode(out, src)
	if err != nil {
		return dst, fmt.Errorf("compressed value: %w", err)
	}
	if len(dec) != n || (n > 0 && &dec[0] != &out[0]) {
		return dst, fmt.Errorf("compressed value decoded to %d bytes, its header says %d", len(dec), n)
	}
	return dst[:len(dst)+n], nil
}
