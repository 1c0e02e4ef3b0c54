// Package bloom builds, serializes and probes the Bloom filters Strata keeps
// in each SST, and computes Monkey's allocation of filter memory across the
// levels of the tree (see monkey.go).
//
// The filter itself is github.com/bits-and-blooms/bloom/v3; this package
// owns the encoding, which is part of the SST format.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for package sst (which builds and probes filters),
// package lsm (which allocates bits per level) and the strata tool.
//
// # Encoding
//
// All integers are little-endian. The header is 22 bytes:
//
//	offset  size  field
//	0       1     magic   0xB1
//	1       1     version 1
//	2       8     m       number of bits in the filter, 1 <= m <= 2^36
//	10      4     k       number of hash functions, 1 <= k <= 30
//	14      8     n       number of keys the filter was built for, n >= 1
//	22      8*W   bitset  W = ceil(m/64) words, each a uint64; bit i of the
//	                      filter is bit i%64 of word i/64
//
// The encoding is exactly 22 + 8*ceil(m/64) bytes long, and bits at positions
// m and above in the last word are zero; Decode rejects anything else.
//
// Worked example: 3 keys at 10 bits per key gives m = 30, k = round(10 ln 2)
// = 7, one word, 30 bytes in all:
//
//	b1 01 | 1e 00 00 00 00 00 00 00 | 07 00 00 00 | 03 00 00 00 00 00 00 00 | <8 bytes of bits>
//
// The magic, the version and the hashing of bloom/v3 (murmur3 128-bit,
// double hashing) must never change for version 1: filters already on disk
// depend on them.
package bloom

import (
	"encoding/binary"
	"math"
	"runtime"
	"unsafe"

	bbloom "github.com/bits-and-blooms/bloom/v3"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/offheap"
)

// Constants of the encoding. They are part of the on-disk format.
const (
	magic       = 0xB1
	version     = 1
	headerLen   = 22
	maxK        = 30
	maxM        = 1 << 36 // 8 GiB of bits: far above any real SST's filter
	maxBitsKey  = 256     // Finish clamps bitsPerKey to this
	wordBytes   = 8
	filterLabel = "bloom filter"
)

// Builder collects the keys of one filter. Keys are copied, each after
// its uvarint length, into chunks of builderChunk bytes (a longer key gets
// a chunk of its own), so adding a key costs no allocation of its own and
// a filter of millions of keys never copies the keys already held into a
// larger buffer.
type Builder struct {
	chunks [][]byte // full chunks, then the one being filled
	n      int      // keys added
}

// builderChunk is the size of a Builder's chunks.
const builderChunk = 256 << 10

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// Add records key. The key is copied; the caller may reuse it.
func (b *Builder) Add(key []byte) {
	need := binary.MaxVarintLen64 + len(key)
	if len(b.chunks) == 0 || cap(b.chunks[len(b.chunks)-1])-len(b.chunks[len(b.chunks)-1]) < need {
		b.chunks = append(b.chunks, make([]byte, 0, max(builderChunk, need)))
	}
	c := &b.chunks[len(b.chunks)-1]
	*c = binary.AppendUvarint(*c, uint64(len(key)))
	*c = append(*c, key...)
	b.n++
}

// len returns the number of keys added (duplicates count each time).
func (b *Builder) len() int { return b.n }

// each calls fn with every key added, in order.
func (b *Builder) each(fn func(key []byte)) {
	for _, c := range b.chunks {
		for len(c) > 0 {
			l, k := binary.Uvarint(c)
			fn(c[k : k+int(l)])
			c = c[k+int(l):]
		}
	}
}

// Finish builds a filter sized for the n keys added at bitsPerKey bits per
// key and returns its encoding. The filter has m = ceil(n*bitsPerKey) bits
// and k = round(bitsPerKey*ln 2) hash functions, k clamped to [1, 30];
// bitsPerKey above 256 is treated as 256. Finish returns nil when there are
// no keys or bitsPerKey is not positive (or is NaN): no filter is written.
// The Builder keeps its keys.
func (b *Builder) Finish(bitsPerKey float64) []byte {
	n := b.n
	if n == 0 || !(bitsPerKey > 0) {
		return nil
	}
	bitsPerKey = min(bitsPerKey, maxBitsKey)
	m := uint64(math.Ceil(float64(n) * bitsPerKey))
	m = max(m, 1)
	if m > maxM {
		m = maxM
	}
	k := uint32(math.Round(bitsPerKey * math.Ln2))
	k = min(max(k, 1), maxK)

	f := bbloom.New(uint(m), uint(k))
	b.each(func(key []byte) { f.Add(key) })

	words := f.BitSet().Words()
	nw := wordsFor(m)
	buf := make([]byte, headerLen+nw*wordBytes)
	buf[0] = magic
	buf[1] = version
	binary.LittleEndian.PutUint64(buf[2:], m)
	binary.LittleEndian.PutUint32(buf[10:], k)
	binary.LittleEndian.PutUint64(buf[14:], uint64(n))
	for i := 0; i < nw && i < len(words); i++ {
		binary.LittleEndian.PutUint64(buf[headerLen+i*wordBytes:], words[i])
	}
	return buf
}

// wordsFor returns the number of 64-bit words holding m bits.
func wordsFor(m uint64) int { return int((m + 63) / 64) }

// Filter is a decoded filter, ready to probe. It is immutable and safe for
// concurrent use.
type Filter struct {
	f    *bbloom.BloomFilter
	m    uint64
	k    uint32
	n    uint64
	size int // length of the encoding
}

// Decode validates an encoding written by Builder.Finish and returns the
// filter. The filter does not alias data. Errors wrap base.ErrCorruption.
func Decode(data []byte) (*Filter, error) {
	if len(data) < headerLen {
		return nil, base.Corruptf(filterLabel, "", "%d bytes, shorter than the %d-byte header", len(data), headerLen)
	}
	if data[0] != magic {
		return nil, base.Corruptf(filterLabel, "", "bad magic %#x", data[0])
	}
	if data[1] != version {
		return nil, base.Corruptf(filterLabel, "", "unknown version %d", data[1])
	}
	m := binary.LittleEndian.Uint64(data[2:])
	k := binary.LittleEndian.Uint32(data[10:])
	n := binary.LittleEndian.Uint64(data[14:])
	if m < 1 || m > maxM {
		return nil, base.Corruptf(filterLabel, "", "bit count %d out of range [1, %d]", m, uint64(maxM))
	}
	if k < 1 || k > maxK {
		return nil, base.Corruptf(filterLabel, "", "hash count %d out of range [1, %d]", k, maxK)
	}
	if n < 1 {
		return nil, base.Corruptf(filterLabel, "", "key count is zero")
	}
	nw := wordsFor(m)
	if want := uint64(headerLen) + uint64(nw)*wordBytes; uint64(len(data)) != want {
		return nil, base.Corruptf(filterLabel, "", "length %d, want %d for %d bits", len(data), want, m)
	}
	if extra := m % 64; extra != 0 && binary.LittleEndian.Uint64(data[len(data)-wordBytes:])>>extra != 0 {
		return nil, base.Corruptf(filterLabel, "", "bits set past bit count %d", m)
	}
	words, mapped := newWords(nw)
	for i := range words {
		words[i] = binary.LittleEndian.Uint64(data[headerLen+i*wordBytes:])
	}
	f := &Filter{
		f:    bbloom.FromWithM(words, uint(m), uint(k)),
		m:    m,
		k:    k,
		n:    n,
		size: len(data),
	}
	if mapped != nil {
		runtime.AddCleanup(f, offheap.Release, mapped)
	}
	return f, nil
}

// offHeapWords is the filter size from which Decode keeps the bits outside
// the Go heap. The filters of the open tables are a large part of a
// database's live heap (1.25 bytes a key at 10 bits), which the collector's
// pacing would double; a small filter is not worth a mapping of its own.
const offHeapWords = 64 << 10 / wordBytes

// newWords returns nw zeroed words, outside the heap when nw is at least
// offHeapWords and the platform allows (mapped is then their memory, to
// give back with offheap.Release once the filter is unreachable), else on it.
func newWords(nw int) (words []uint64, mapped []byte) {
	if nw >= offHeapWords {
		if b, err := offheap.Alloc(nw * wordBytes); err == nil {
			return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), nw), b
		}
	}
	return make([]uint64, nw), nil
}

// MayContain reports whether key may have been added. False means it
// certainly was not. It does not allocate.
func (f *Filter) MayContain(key []byte) bool {
	ok := f.f.Test(key)
	runtime.KeepAlive(f) // the cleanup of f unmaps the words Test reads
	return ok
}

// BitsPerKey returns the filter's bits per key as recorded: m / n.
func (f *Filter) BitsPerKey() float64 { return float64(f.m) / float64(f.n) }

// HashCount returns k, the number of hash functions.
func (f *Filter) HashCount() int { return int(f.k) }

// SizeBytes returns the length of the filter's encoding.
func (f *Filter) SizeBytes() int { return f.size }
