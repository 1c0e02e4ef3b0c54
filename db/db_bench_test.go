package db

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// benchKeys sets the number of keys the read benchmarks load. The issue's
// reference run uses 1M: go test -bench . ./db/ -args -benchkeys 1000000
var benchKeys = flag.Int("benchkeys", 100_000, "keys loaded by the read benchmarks")

// benchKey writes the 16-byte key for i into buf.
func benchKey(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf[0:8], i*0x9e3779b97f4a7c15) // scattered prefix
	binary.BigEndian.PutUint64(buf[8:16], i)
	return buf[:16]
}

func benchOptions() *Options {
	return &Options{CacheSize: 256 << 20, MemtableSize: 8 << 20}
}

func BenchmarkPut(b *testing.B) {
	benchPuts(b, func(key []byte, i int) []byte { return benchKey(key, uint64(i)) })
}

// BenchmarkPutSequential puts keys in ascending order (db_bench's fillseq).
func BenchmarkPutSequential(b *testing.B) {
	benchPuts(b, func(key []byte, i int) []byte {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		return key
	})
}

// benchPuts times b.N puts of 100-byte values under the keys keyOf makes.
func benchPuts(b *testing.B, keyOf func(buf []byte, i int) []byte) {
	d := mustOpen(b, b.TempDir(), benchOptions())
	defer d.Close()
	key := make([]byte, 16)
	value := make([]byte, 100)
	rand.New(rand.NewSource(1)).Read(value)
	b.SetBytes(116)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Put(keyOf(key, i), value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncedWriters times synced puts of 1000-byte values from 16
// goroutines (the peers' fillsync16), and reports how many writes each
// WAL fsync served.
func BenchmarkSyncedWriters(b *testing.B) {
	o := benchOptions()
	o.SyncWrites = true
	d := mustOpen(b, b.TempDir(), o)
	defer d.Close()
	value := make([]byte, 1000)
	rand.New(rand.NewSource(1)).Read(value)
	var next atomic.Uint64
	b.SetBytes(1016)
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := make([]byte, 16)
		for pb.Next() {
			if err := d.Put(benchKey(key, next.Add(1)), value); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if m := d.Metrics(); m.WALSyncs > 0 {
		b.ReportMetric(float64(m.SyncedWrites)/float64(m.WALSyncs), "writes/fsync")
	}
}

// loadedDB returns a DB holding n keys, flushed and merged.
func loadedDB(b *testing.B, n int) *DB {
	d := mustOpen(b, b.TempDir(), benchOptions())
	key := make([]byte, 16)
	value := make([]byte, 100)
	rand.New(rand.NewSource(1)).Read(value)
	batch := d.NewBatch()
	for i := 0; i < n; i++ {
		batch.Put(benchKey(key, uint64(i)), value)
		if batch.Len() == 1000 {
			if err := d.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := d.Write(batch); err != nil {
		b.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
	d.waitIdle() // time reads, not the merges the load left behind
	return d
}

func BenchmarkGetHit(b *testing.B) {
	n := *benchKeys
	d := loadedDB(b, n)
	defer d.Close()
	key := make([]byte, 16)
	rng := rand.New(rand.NewSource(2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Get(benchKey(key, uint64(rng.Intn(n)))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetMiss(b *testing.B) {
	n := *benchKeys
	d := loadedDB(b, n)
	defer d.Close()
	key := make([]byte, 16)
	rng := rand.New(rand.NewSource(3))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Get(benchKey(key, uint64(n+rng.Intn(n)))); err != ErrNotFound {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan reports the cost per entry of a full scan.
func BenchmarkScan(b *testing.B) {
	n := *benchKeys
	d := loadedDB(b, n)
	defer d.Close()
	b.ReportAllocs()
	b.SetBytes(116)
	b.ResetTimer()
	var it *Iterator
	for i := 0; i < b.N; i++ {
		if it == nil || !it.Next() {
			if it != nil {
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
			it = d.Scan(nil, nil)
			if !it.Next() {
				b.Fatal("empty scan")
			}
		}
	}
	b.StopTimer()
	if it != nil {
		it.Close()
	}
}

// BenchmarkGetSmallCache compares buffered and O_DIRECT reads with a buffer
// pool an eighth of the data, so most lookups read a page from the file.
func BenchmarkGetSmallCache(b *testing.B) {
	n := *benchKeys
	for _, direct := range []bool{false, true} {
		name := "buffered"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			o := &Options{CacheSize: int64(n) * 116 / 8, MemtableSize: 8 << 20}
			d := mustOpen(b, dir, o)
			key := make([]byte, 16)
			value := make([]byte, 100)
			batch := d.NewBatch()
			for i := 0; i < n; i++ {
				batch.Put(benchKey(key, uint64(i)), value)
				if batch.Len() == 1000 {
					d.Write(batch)
					batch.Reset()
				}
			}
			d.Write(batch)
			d.Flush()
			d.waitIdle()
			d.Close()
			o.DirectIO = direct
			d = mustOpen(b, dir, o)
			defer d.Close()
			rng := rand.New(rand.NewSource(2))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Get(benchKey(key, uint64(rng.Intn(n)))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			m := d.Metrics()
			b.ReportMetric(float64(m.Cache.Hits)/float64(m.Cache.Hits+m.Cache.Misses), "hit-ratio")
			b.ReportMetric(float64(m.DirectIOFiles), "direct-files")
		})
	}
}

// BenchmarkSeekNext100 seeks to a random key and reads the next 100, with
// a new iterator each time, as db_bench's seekrandom with nexts does.
func BenchmarkSeekNext100(b *testing.B) {
	n := *benchKeys
	d := loadedDB(b, n)
	defer d.Close()
	key := make([]byte, 16)
	rng := rand.New(rand.NewSource(4))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it := d.NewIter(nil)
		ok := it.SeekGE(benchKey(key, uint64(rng.Intn(n))))
		for j := 0; ok && j < 100; j++ {
			ok = it.Next()
		}
		if err := it.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetLargeValues gets random 64 KiB values (3000 of them, three
// times the 64 MiB buffer pool) from 1 and from 4 goroutines: a value
// spans 16 pages, and the goroutines must not serialize on the pool.
func BenchmarkGetLargeValues(b *testing.B) {
	const n, size = 3000, 64 << 10
	dir := b.TempDir()
	o := &Options{CacheSize: 64 << 20, MemtableSize: 8 << 20, Compression: NoCompression}
	d := mustOpen(b, dir, o)
	key := make([]byte, 16)
	value := make([]byte, size)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		rng.Read(value)
		if err := d.Put(benchKey(key, uint64(i)), value); err != nil {
			b.Fatal(err)
		}
	}
	d.Flush()
	d.waitIdle()
	defer d.Close()
	for _, g := range []int{1, 4} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			b.SetBytes(size)
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := 0; w < g; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(w)))
					key := make([]byte, 16)
					for i := w; i < b.N; i += g {
						if _, err := d.Get(benchKey(key, uint64(rng.Intn(n)))); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkCounterUpdates adds 1 to counters drawn at random from 100k
// (already loaded, flushed and merged, so a read finds each on disk), one
// update per op: as merge operands (a blind write), or as a Get of the
// counter followed by a Put of the sum. The reads sub-benchmarks then
// read every counter once per op, after ten updates of each: operands
// are folded at read time (until a merge of files folds them for good).
func BenchmarkCounterUpdates(b *testing.B) {
	const counters = 100_000
	setup := func(b *testing.B) *DB {
		o := benchOptions()
		o.Merge = counterMerge
		d := mustOpen(b, b.TempDir(), o)
		key := make([]byte, 16)
		for i := range counters {
			if err := d.Put(benchKey(key, uint64(i)), counterOperand(0)); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Compact(nil, nil); err != nil {
			b.Fatal(err)
		}
		return d
	}
	one := counterOperand(1)
	update := map[string]func(d *DB, key []byte) error{
		"merge": func(d *DB, key []byte) error { return d.Merge(key, one) },
		"get-put": func(d *DB, key []byte) error {
			v, err := d.Get(key)
			if err != nil {
				return err
			}
			n := binary.BigEndian.Uint64(v) + 1
			return d.Put(key, binary.BigEndian.AppendUint64(v[:0], n))
		},
	}
	for _, name := range []string{"merge", "get-put"} {
		b.Run(name, func(b *testing.B) {
			d := setup(b)
			defer d.Close()
			rng := rand.New(rand.NewSource(1))
			key := make([]byte, 16)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := update[name](d, benchKey(key, uint64(rng.Intn(counters)))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-reads", func(b *testing.B) {
			d := setup(b)
			defer d.Close()
			key := make([]byte, 16)
			for r := range 10 {
				for i := range counters {
					if err := update[name](d, benchKey(key, uint64((i*7919+r)%counters))); err != nil {
						b.Fatal(err)
					}
				}
			}
			rng := rand.New(rand.NewSource(2))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, err := d.Get(benchKey(key, uint64(rng.Intn(counters))))
				if err != nil || binary.BigEndian.Uint64(v) != 10 {
					b.Fatalf("counter %x: %v", v, err)
				}
			}
		})
	}
}

// BenchmarkGetMerged gets counters whose value lies in the last level,
// under one merge operand in a newer table and one in the memtable.
func BenchmarkGetMerged(b *testing.B) {
	d, err := Open(b.TempDir(), &Options{MemtableSize: 64 << 20, Merge: counterMerge})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	const n = 100000
	key := make([]byte, 16)
	for round, write := range []func(k, v []byte) error{d.Put, d.Merge, d.Merge} {
		for i := range n {
			if err := write(benchKey(key, uint64(i)), counterOperand(int64(round+1))); err != nil {
				b.Fatal(err)
			}
		}
		switch round {
		case 0:
			err = d.Compact(nil, nil)
		case 1:
			err = d.Flush()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	d.waitIdle()
	rng := rand.New(rand.NewSource(2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := d.Get(benchKey(key, uint64(rng.Intn(n))))
		if err != nil || len(v) != 8 || v[7] != 6 {
			b.Fatalf("counter %x, %v; want 6", v, err)
		}
	}
}
