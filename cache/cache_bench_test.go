package cache

import (
	"sync/atomic"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
)

const benchPageSize = 4096

// nopLoad stamps the page id; it makes no allocation.
func nopLoad(buf []byte) error {
	buf[0] = 1
	return nil
}

// BenchmarkGetHit measures parallel Get+Release of resident pages: in A1in
// (a hit that moves nothing), in Am (a hit that moves the frame to the head)
// and under LRU (likewise). Run with -cpu=1,2,4 to see how the shards scale.
func BenchmarkGetHit(b *testing.B) {
	const frames, hot = 1024, 256
	for _, c := range []struct {
		name   string
		policy Policy
		am     bool
	}{
		{"2q-a1in", Policy2Q, false},
		{"2q-am", Policy2Q, true},
		{"lru", PolicyLRU, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := New(Options{
				Capacity: frames * benchPageSize, PageSize: benchPageSize,
				Policy: c.policy, KoutFraction: 4,
			})
			read := func(f base.FileNum, pn int) {
				h, err := pool.Get(PageID{f, base.PageNum(pn)}, nopLoad)
				if err != nil {
					b.Fatal(err)
				}
				h.Release()
			}
			for i := range hot {
				read(1, i)
			}
			if c.am {
				// Push the hot pages out of A1in into A1out, then read them
				// again: they come back into Am.
				for i := range 2 * frames {
					read(2, i)
				}
				for i := range hot {
					read(1, i)
				}
				if g := pool.Metrics().GhostHits; g != hot {
					b.Fatalf("%d of %d hot pages reached Am", g, hot)
				}
			}
			before := pool.Metrics()
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the hot set with its own odd stride.
				i := seed.Add(1) * 97
				for pb.Next() {
					i += 37
					h, err := pool.Get(PageID{1, base.PageNum(i % hot)}, nopLoad)
					if err != nil {
						b.Error(err)
						return
					}
					h.Release()
				}
			})
			b.StopTimer()
			if m := pool.Metrics(); m.Misses != before.Misses {
				b.Fatalf("%d misses during a hit benchmark", m.Misses-before.Misses)
			}
		})
	}
}

// BenchmarkGetMiss measures a Get that misses and reclaims a frame (a
// sequential scan larger than the pool), with a load that does no I/O.
func BenchmarkGetMiss(b *testing.B) {
	for _, policy := range []Policy{Policy2Q, PolicyLRU} {
		b.Run(string(policy), func(b *testing.B) {
			pool := New(Options{Capacity: 1024 * benchPageSize, PageSize: benchPageSize, Policy: policy})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h, err := pool.Get(PageID{1, base.PageNum(i)}, nopLoad)
				if err != nil {
					b.Fatal(err)
				}
				h.Release()
			}
		})
	}
}

// BenchmarkPrefetch measures a scan read through Prefetch in runs of 8
// pages, each page then read by Get, per page.
func BenchmarkPrefetch(b *testing.B) {
	pool := New(Options{Capacity: 1024 * benchPageSize, PageSize: benchPageSize})
	loadRun := func(bufs [][]byte) error {
		for _, buf := range bufs {
			buf[0] = 1
		}
		return nil
	}
	b.ReportAllocs()
	pn := base.PageNum(0)
	for b.Loop() {
		if _, err := pool.Prefetch(1, pn, 8, loadRun); err != nil {
			b.Fatal(err)
		}
		h, err := pool.Get(PageID{1, pn}, nopLoad)
		if err != nil {
			b.Fatal(err)
		}
		h.Release()
		pn++
	}
}
