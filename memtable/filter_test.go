package memtable

import (
	"encoding/binary"
	"testing"
)

// TestKeyFilter checks that the filter of a memtable filled with 16-byte
// keys and 100-byte values never denies a key it holds and admits few it
// does not.
func TestKeyFilter(t *testing.T) {
	const memtableSize = 4 << 20
	n := memtableSize / (16 + 100 + entryOverhead)
	var f keyFilter
	f.init(filterWords(memtableSize))
	key := make([]byte, 16)
	for i := range n {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		f.add(key)
	}
	for i := range n {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		if !f.mayContain(key) {
			t.Fatalf("key %d added but not admitted", i)
		}
	}
	const probes = 100_000
	admitted := 0
	for i := range probes {
		binary.BigEndian.PutUint64(key[8:], uint64(n+i))
		if f.mayContain(key) {
			admitted++
		}
	}
	// About 1% at this load; 3% allows for the seed.
	if rate := float64(admitted) / probes; rate > 0.03 {
		t.Errorf("false positive rate %.4f at %d keys in %d words", rate, n, len(f.words))
	}
	t.Logf("%d keys, %d bits a key: false positive rate %.4f", n, len(f.words)*64/n, float64(admitted)/probes)
}

// TestFilterWords checks the filter's sizes: a power of two, at least 64
// words, about one bit per filterBytesPerBit bytes of memtable.
func TestFilterWords(t *testing.T) {
	for _, c := range []struct {
		size int64
		want int
	}{{0, 64}, {1, 64}, {64 << 10, 64}, {4 << 20, 4096}, {5 << 20, 8192}, {64 << 20, 65536}} {
		if got := filterWords(c.size); got != c.want {
			t.Errorf("filterWords(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}
