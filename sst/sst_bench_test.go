package sst

import (
	"encoding/binary"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// The benchmarks use db_bench's shape: 100k entries of 16-byte keys and
// 100-byte values, 4096-byte pages, 10 bits per key, and a cache that holds
// the whole file.
const (
	benchN      = 100_000
	benchKeyLen = 16
	benchValLen = 100
)

// benchKey writes the 16-byte key of entry i (even numbers, so odd ones
// are absent) into buf.
func benchKey(buf []byte, i int) []byte {
	buf = buf[:benchKeyLen]
	copy(buf, "key-")
	binary.BigEndian.PutUint64(buf[8:], uint64(2*i))
	copy(buf[4:8], "0000")
	return buf
}

func benchEntries() []kv {
	kvs := make([]kv, benchN)
	val := pattern(benchValLen, 1)
	for i := range kvs {
		kvs[i] = kv{base.MakeInternalKey(benchKey(make([]byte, benchKeyLen), i), base.SeqNum(i+1), base.KindSet), val}
	}
	return kvs
}

func BenchmarkWriter(b *testing.B) {
	benchWriter(b, benchEntries())
}

// BenchmarkWriterIncompressible writes random 100-byte values with Snappy
// on: every attempt to compress fails.
func BenchmarkWriterIncompressible(b *testing.B) {
	kvs := benchEntries()
	rng := rand.New(rand.NewSource(1))
	for i := range kvs {
		v := make([]byte, benchValLen)
		rng.Read(v)
		kvs[i].value = v
	}
	benchWriter(b, kvs)
}

func benchWriter(b *testing.B, kvs []kv) {
	path := filepath.Join(b.TempDir(), "000001.sst")
	b.ReportAllocs()
	b.SetBytes(int64(benchN * (benchKeyLen + benchValLen)))
	for b.Loop() {
		f, err := vfs.Default().Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := NewWriter(f, WriterOptions{BloomBitsPerKey: 10, Compression: SnappyCompression})
		for _, e := range kvs {
			if err := w.Add(e.key, e.value); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// openBench writes the benchmark file and opens it with a warm cache.
func openBench(b *testing.B) *Reader {
	path := filepath.Join(b.TempDir(), "000001.sst")
	props := writeTable(b, path, WriterOptions{BloomBitsPerKey: 10}, benchEntries(), nil)
	pool := cache.New(cache.Options{Capacity: int64(props.Pages+64) * defaultPageSize, PageSize: defaultPageSize})
	r, err := openWith(path, pool, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	it := r.newIter()
	for ok := it.First(); ok; ok = it.Next() {
	}
	it.Close()
	return r
}

func BenchmarkGetHit(b *testing.B) {
	r := openBench(b)
	key := make([]byte, benchKeyLen)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % benchN
		g, err := r.Get(dst, benchKey(key, i), base.MaxSeqNum)
		if !g.Found || err != nil || len(g.Value) != benchValLen {
			b.Fatal("miss", i, err)
		}
	}
}

func BenchmarkGetMiss(b *testing.B) {
	r := openBench(b)
	key := make([]byte, benchKeyLen)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % benchN
		k := benchKey(key, i)
		k[15]++ // odd: absent
		if g, err := r.Get(dst, k, base.MaxSeqNum); g.Found || err != nil {
			b.Fatal("hit", i, err)
		}
	}
	st := r.Stats()
	b.ReportMetric(float64(st.BloomFalsePositives)/float64(st.BloomChecks), "fp-rate")
}

func BenchmarkIterNext(b *testing.B) {
	r := openBench(b)
	it := r.newIter()
	defer it.Close()
	it.First()
	b.ReportAllocs()
	for b.Loop() {
		if !it.Next() {
			it.First()
		}
		_ = it.Value()
	}
}
