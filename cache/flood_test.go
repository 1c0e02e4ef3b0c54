package cache

import (
	"math/rand/v2"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// floodRun is one scan-flooding workload.
type floodRun struct {
	policy Policy
	shards int
}

// hotHitRatio returns the hit ratio of a hot set of floodHot pages (an
// eighth of the pool) read while a sequential scan of 20 times the pool runs:
// each step reads a random hot page with probability floodPHot, else the
// next page of the scan. The gaps between reads of one hot page vary, so
// under LRU a long one lets the scan push the page out, while under 2Q a gap
// that ends while the page's id is in A1out moves it to Am for good. A
// warm-up of the same mix over another 20 pools comes first, so the ratio
// is the steady state, not the cost of first reads.
func (r floodRun) hotHitRatio(t *testing.T) float64 {
	const (
		frames    = 256
		floodHot  = 32
		floodPHot = 0.1
		P         = 64
	)
	pool := New(Options{Capacity: frames * P, PageSize: P, Policy: r.policy, Shards: r.shards})
	rng := rand.New(rand.NewPCG(1, 2))
	var next base.PageNum // next page of the scan, in file 2
	read := func(id PageID) (hit bool) {
		hit = true
		h, err := pool.Get(id, func(buf []byte) error {
			hit = false
			fillPage(buf, id, 0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkPage(h.Data(), id); err != nil {
			t.Fatal(err)
		}
		h.Release()
		return hit
	}
	run := func(scanPages int) (hits, reads int) {
		for end := next + base.PageNum(scanPages); next < end; {
			if rng.Float64() < floodPHot {
				reads++
				if read(PageID{File: 1, Page: base.PageNum(rng.IntN(floodHot))}) {
					hits++
				}
				continue
			}
			read(PageID{File: 2, Page: next})
			next++
		}
		return hits, reads
	}
	run(20 * frames)
	hits, reads := run(20 * frames)
	m := pool.Metrics()
	t.Logf("%s, %d shards: hot set hit ratio %.3f (%d of %d); pool: %d hits, %d misses, %d ghost hits",
		r.policy, len(pool.shards), float64(hits)/float64(reads), hits, reads, m.Hits, m.Misses, m.GhostHits)
	if m.Pinned != 0 {
		t.Fatalf("%d frames pinned", m.Pinned)
	}
	return float64(hits) / float64(reads)
}

// TestScanFlood checks that a scan 20 times the pool's size leaves 2Q's hot
// set in place while it flushes LRU's.
func TestScanFlood(t *testing.T) {
	for _, shards := range []int{1, 4} {
		twoQ := floodRun{Policy2Q, shards}.hotHitRatio(t)
		lru := floodRun{PolicyLRU, shards}.hotHitRatio(t)
		if twoQ < 0.9 {
			t.Errorf("%d shards: 2Q hot set hit ratio %.3f, want at least 0.9", shards, twoQ)
		}
		if lru > twoQ-0.2 {
			t.Errorf("%d shards: LRU hot set hit ratio %.3f is not clearly below 2Q's %.3f", shards, lru, twoQ)
		}
	}
}

// TestPrefetchScanFlood checks that a scan read through Prefetch also leaves
// 2Q's hot set in place: prefetched pages enter A1in.
func TestPrefetchScanFlood(t *testing.T) {
	const (
		frames = 256
		hot    = 32
		P      = 64
	)
	pool := New(Options{Capacity: frames * P, PageSize: P, Shards: 1})
	get := func(id PageID) {
		h, err := pool.Get(id, loadID(id))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkPage(h.Data(), id); err != nil {
			t.Fatal(err)
		}
		h.Release()
	}
	// Promote the hot set: first reads, a flush of A1in, second reads.
	for i := range hot {
		get(PageID{1, base.PageNum(i)})
	}
	for i := range frames {
		get(PageID{3, base.PageNum(i)})
	}
	for i := range hot {
		get(PageID{1, base.PageNum(i)})
	}
	if sn := pool.snapshotShard(0); len(sn.am) != hot {
		t.Fatalf("%d pages in Am after the warm-up, want %d", len(sn.am), hot)
	}
	// Scan 20 pools through Prefetch, 8 pages a run.
	for pn := base.PageNum(0); pn < 20*frames; {
		n, err := pool.Prefetch(2, pn, 8, func(bufs [][]byte) error {
			for i, b := range bufs {
				fillPage(b, PageID{2, pn + base.PageNum(i)}, 0)
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Fatalf("Prefetch(%d) = %d, %v", pn, n, err)
		}
		for range n {
			get(PageID{2, pn})
			pn++
		}
	}
	before := pool.Metrics()
	for i := range hot {
		get(PageID{1, base.PageNum(i)})
	}
	after := pool.Metrics()
	if misses := after.Misses - before.Misses; misses != 0 {
		t.Fatalf("%d of %d hot pages missed after a prefetched scan", misses, hot)
	}
	if after.Prefetched != 20*frames {
		t.Fatalf("Prefetched = %d, want %d", after.Prefetched, 20*frames)
	}
}
