package memtable

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// benchKeys returns n distinct 16-byte keys in random order (db_bench's
// key size).
func benchKeys(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, n)
	for i, p := range rng.Perm(n) {
		k := make([]byte, 16)
		binary.BigEndian.PutUint64(k[8:], uint64(p)*0x9e3779b97f4a7c15)
		keys[i] = k
	}
	return keys
}

const benchEntries = 100_000

// benchMemtable returns a memtable holding keys with 100-byte values, made
// as the database makes one of the size they fill.
func benchMemtable(keys [][]byte) *Memtable {
	m := NewPooled(NewChunkPool(int64(len(keys)) * (16 + 100 + entryOverhead)))
	value := make([]byte, 100)
	for i, k := range keys {
		m.Add(base.SeqNum(i+1), base.KindSet, k, value)
	}
	return m
}

// BenchmarkAdd inserts random 16-byte keys with 100-byte values, starting a
// new memtable every benchEntries entries.
func BenchmarkAdd(b *testing.B) {
	keys := benchKeys(benchEntries)
	benchAdds(b, func(i int) []byte { return keys[i%benchEntries] })
}

// BenchmarkAddSeq inserts 16-byte keys in ascending order with 100-byte
// values (db_bench's fillseq), starting a new memtable every benchEntries
// entries.
func BenchmarkAddSeq(b *testing.B) {
	key := make([]byte, 16)
	benchAdds(b, func(i int) []byte {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		return key
	})
}

// benchAdds adds key(i) with a 100-byte value for i = 0, 1, ..., starting
// a new memtable every benchEntries entries (untimed).
func benchAdds(b *testing.B, key func(i int) []byte) {
	value := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(16 + len(value)))
	m := NewPooled(nil)
	for i := 0; b.Loop(); i++ {
		if i%benchEntries == 0 && i > 0 {
			b.StopTimer()
			m = NewPooled(nil)
			b.StartTimer()
		}
		m.Add(base.SeqNum(i+1), base.KindSet, key(i), value)
	}
}

// BenchmarkGet looks up random present keys in a memtable of benchEntries
// entries.
func BenchmarkGet(b *testing.B) {
	keys := benchKeys(benchEntries)
	m := benchMemtable(keys)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, _, found := m.Get(keys[(i*7919)%benchEntries], base.MaxSeqNum); !found {
			b.Fatal("not found")
		}
	}
}

// BenchmarkGetMissing looks up random keys that a memtable of benchEntries
// entries does not hold: what a database's gets of keys written before the
// memtable began do.
func BenchmarkGetMissing(b *testing.B) {
	keys := benchKeys(2 * benchEntries)
	m := benchMemtable(keys[:benchEntries])
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, _, found := m.Get(keys[benchEntries+(i*7919)%benchEntries], base.MaxSeqNum); found {
			b.Fatal("found")
		}
	}
}

// BenchmarkGetParallel is BenchmarkGet from all Ps at once: the cost of the
// shared read lock.
func BenchmarkGetParallel(b *testing.B) {
	keys := benchKeys(benchEntries)
	m := benchMemtable(keys)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Get(keys[(i*7919)%benchEntries], base.MaxSeqNum)
			i++
		}
	})
}

// BenchmarkIterNext walks a memtable of benchEntries entries forward.
func BenchmarkIterNext(b *testing.B) {
	m := benchMemtable(benchKeys(benchEntries))
	it := m.NewIter()
	defer it.Close()
	it.First()
	b.ReportAllocs()
	for b.Loop() {
		if !it.Next() {
			it.First()
		}
	}
}

// BenchmarkIterPrev walks a memtable of benchEntries entries backward.
func BenchmarkIterPrev(b *testing.B) {
	m := benchMemtable(benchKeys(benchEntries))
	it := m.NewIter()
	defer it.Close()
	it.Last()
	b.ReportAllocs()
	for b.Loop() {
		if !it.Prev() {
			it.Last()
		}
	}
}

// BenchmarkSeekGE seeks to random present keys.
func BenchmarkSeekGE(b *testing.B) {
	keys := benchKeys(benchEntries)
	m := benchMemtable(keys)
	it := m.NewIter()
	defer it.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if !it.SeekGE(keys[(i*7919)%benchEntries]) {
			b.Fatal("seek failed")
		}
	}
}

// BenchmarkAddThenGet alternates an insert and a lookup, as a key-value
// store serving reads and writes does: each lookup after an insert
// publishes a new view and each insert after it copies a path of nodes,
// the most a view costs.
func BenchmarkAddThenGet(b *testing.B) {
	keys := benchKeys(2 * benchEntries)
	m := benchMemtable(keys[:benchEntries])
	value := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%benchEntries == 0 && i > 0 {
			b.StopTimer()
			m = benchMemtable(keys[:benchEntries])
			b.StartTimer()
		}
		m.Add(base.SeqNum(benchEntries+i+1), base.KindSet, keys[benchEntries+i%benchEntries], value)
		m.Get(keys[i%benchEntries], base.MaxSeqNum)
	}
}
