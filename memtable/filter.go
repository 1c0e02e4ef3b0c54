package memtable

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// keyFilter is a Bloom filter over the user keys of a memtable's point
// entries, so that Get skips the B-tree search for a key the memtable does
// not hold. That is most gets: a memtable holds a few megabytes of the
// database's keys, yet every Get of a key written earlier searches it (and
// each immutable memtable) first. The search costs a few cache misses per
// level of the tree, about 0.6 µs at 50k entries; a probe of the filter is
// one hash and one load.
//
// The filter is blocked to one 64-bit word per key, as in Putze, Sanders
// and Singler's "Cache-, Hash- and Space-Efficient Bloom Filters" (2007):
// a key's hash picks a word and filterProbes bits within it, so Add is one
// atomic OR and a probe one atomic load, each at most one cache miss. A
// word-blocked filter errs more often than a standard one of the same size
// (about 1% at 16 bits per key, against 0.5%), and the memtable's filter
// needs no better: a false positive costs the B-tree search the filter
// saves the rest of the time.
//
// Add (the memtable's single writer) sets a key's bits before it publishes
// the entry, and readers load the words atomically, so a reader that can
// see an entry also sees its bits. The filter is never cleared: a memtable
// only grows until it is dropped.
type keyFilter struct {
	words []atomic.Uint64
	shift uint // 64 - log2(len(words)): the top hash bits pick the word
	seed  maphash.Seed
}

// filterProbes is the number of bits a key sets in its word. With the
// filter sized as filterWords does, a memtable of 16-byte keys and 100-byte
// values has about 10 bits per key, where 4 probes give the fewest false
// positives in a 64-bit block.
const filterProbes = 4

// filterBytesPerBit is the memtable memory each bit of the filter stands for
// (filterWords): 4 MiB memtables get 32 KiB filters.
const filterBytesPerBit = 16

// filterWords returns the number of words of the filter of a memtable of
// memtableSize bytes: one bit per filterBytesPerBit bytes, rounded up to a
// power of two, at least 64 words.
func filterWords(memtableSize int64) int {
	n := max(memtableSize/filterBytesPerBit/64, 64)
	return 1 << bits.Len64(uint64(n-1))
}

// init sizes the filter at n words (a power of two) and draws its seed.
func (f *keyFilter) init(n int) {
	f.words = make([]atomic.Uint64, n)
	f.shift = uint(64 - bits.TrailingZeros(uint(n)))
	f.seed = maphash.MakeSeed()
}

// locate returns the word of key and the mask of its bits in that word.
func (f *keyFilter) locate(key []byte) (word *atomic.Uint64, mask uint64) {
	h := maphash.Bytes(f.seed, key)
	word = &f.words[h>>f.shift]
	for i := range filterProbes {
		mask |= 1 << ((h >> (6 * i)) & 63)
	}
	return word, mask
}

// add sets key's bits. Only the memtable's writer calls it.
func (f *keyFilter) add(key []byte) {
	w, mask := f.locate(key)
	if old := w.Load(); old&mask != mask {
		w.Store(old | mask) // the only writer: no read-modify-write race
	}
}

// mayContain reports whether key may have been added: false means it was not.
func (f *keyFilter) mayContain(key []byte) bool {
	w, mask := f.locate(key)
	return w.Load()&mask == mask
}
