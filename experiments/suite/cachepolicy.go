package main

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/db"
)

// cacheScanners is the number of goroutines running full scans in the
// "during scans" phase.
const cacheScanners = 2

// cacheAfterScanRounds is the number of (full scan, hot pass) rounds of
// the third phase.
const cacheAfterScanRounds = 3

// cachePhases are the measurements cache-policy takes per policy.
var cachePhases = []string{"hot gets alone", "hot gets during full scans", "hot gets after a full scan"}

// cachePhaseLabels name the phases on the plot's X axis.
var cachePhaseLabels = []string{"alone", fmt.Sprintf("during %d full scans", cacheScanners), "after a full scan"}

// cachePolicies are the policies the experiment compares, by the names
// its CSV uses.
var cachePolicies = map[string]db.CachePolicy{"2q": db.Cache2Q, "lru": db.CacheLRU}

// runCachePolicy compares the buffer pool's replacement policies. For each
// policy it loads a database to the final size with a pool smaller than
// the data and merges it into one run (a background merge replacing files
// during the phases would turn hot pages cold under either policy). It
// picks a hot set of keys whose leaf pages fill about half the pool and
// measures, after warming the pool (a full scan, then three passes over
// the hot keys):
//
//  1. gets of the hot keys alone;
//  2. the same gets while cacheScanners goroutines run full scans; the hit
//     ratio of this phase counts the scans' page references too;
//  3. (warmed again) one pass over the hot keys right after a full scan
//     that ran alone, three rounds summed: what a scan larger than the
//     pool leaves of the hot set. LRU loses it; 2Q keeps it in Am.
//
// Hit ratios are deltas of Metrics().Cache over each phase.
func runCachePolicy(e *env) error {
	t, err := e.newTable(cols([]string{"policy", "phase", "hot_keys", "scanners"}, sampleHeader,
		[]string{"cache_hit_ratio", "cache_hits", "cache_misses", "ghost_hits", "scan_mb_per_s"})...)
	if err != nil {
		return err
	}
	defer t.close()
	policies := []string{"2q", "lru"}
	hit := map[string][]float64{}
	tput := map[string][]float64{}
	hot := int(e.cfg.Cache / sstPageSize / 2)
	for _, policy := range policies {
		d, closeDB, err := e.openDB(policy, db.Options{Experimental: db.Experimental{CachePolicy: cachePolicies[policy]}})
		if err != nil {
			return err
		}
		ld := newLoader(d)
		for _, size := range e.cfg.steps() {
			s, err := ld.putTo(size)
			if err != nil {
				closeDB()
				return err
			}
			e.progress("%s: loading %s (%.0f puts/s)", policy, mib(s.dataBytes), s.opsPerSec())
		}
		if err := compactAll(e, d); err != nil {
			closeDB()
			return err
		}
		rng := rand.New(rand.NewSource(e.cfg.Seed))
		hotIDs := make([]uint64, min(hot, int(ld.n)))
		for i := range hotIDs {
			hotIDs[i] = uint64(rng.Int63n(ld.n))
		}
		// Random hot gets, for phases 1 and 2.
		randomHot := func(w int) opFunc {
			r := rand.New(rand.NewSource(e.cfg.Seed + int64(w) + 1))
			k := make([]byte, keySize)
			return func() (int64, error) {
				v, err := d.Get(makeKey(k, hotIDs[r.Intn(len(hotIDs))]))
				return keySize + int64(len(v)), err
			}
		}
		// Every hot key once, in order, for warming and phase 3.
		onePass := func() (ops, bytes int64, secs float64, err error) {
			return runOps(1, 1<<62, int64(len(hotIDs)), func(int) opFunc {
				i := 0
				k := make([]byte, keySize)
				return func() (int64, error) {
					v, err := d.Get(makeKey(k, hotIDs[i%len(hotIDs)]))
					i++
					return keySize + int64(len(v)), err
				}
			})
		}
		// warm brings the pool to the state of a busy one: full of cold
		// pages (a scan), then three passes over the hot keys. Under 2Q a
		// page enters Am only when it is referenced again after leaving
		// A1in, which needs a full pool; warming an empty pool would leave
		// the hot set in A1in, where the next scan flushes it.
		warm := func() error {
			if _, _, err := fullScan(d); err != nil {
				return err
			}
			for pass := 0; pass < 3; pass++ {
				if _, _, _, err := onePass(); err != nil {
					return err
				}
			}
			return nil
		}
		for pi, phase := range cachePhases {
			// Phases 1 and 3 start from a warm pool; phase 2 follows phase
			// 1 (its concurrent scanners may promote scan pages, which
			// phase 3 must not inherit).
			if pi != 1 {
				if err := warm(); err != nil {
					closeDB()
					return err
				}
			}
			var (
				ops, bytes, scanBytes int64
				secs                  float64
				scanners              int
				before, after         db.Metrics
			)
			switch pi {
			case 0:
				before = d.Metrics()
				ops, bytes, secs, err = runOps(1, 2*e.cfg.Measure, e.cfg.MaxOps, randomHot)
				after = d.Metrics()
			case 1:
				scanners = cacheScanners
				stopScans := startScanners(d, scanners)
				before = d.Metrics()
				ops, bytes, secs, err = runOps(1, 2*e.cfg.Measure, e.cfg.MaxOps, randomHot)
				after = d.Metrics()
				var scanErr error
				scanBytes, scanErr = stopScans()
				if err == nil {
					err = scanErr
				}
			case 2:
				// Rounds of a lone full scan and one pass over the hot
				// keys; the pass's counters are summed.
				for round := 0; round < cacheAfterScanRounds && err == nil; round++ {
					if _, _, err = fullScan(d); err != nil {
						break
					}
					b := d.Metrics()
					o, by, sc, perr := onePass()
					a := d.Metrics()
					ops, bytes, secs, err = ops+o, bytes+by, secs+sc, perr
					if round == 0 {
						before, after = b, a
					} else {
						after.Cache.Hits += a.Cache.Hits - b.Cache.Hits
						after.Cache.Misses += a.Cache.Misses - b.Cache.Misses
						after.Cache.GhostHits += a.Cache.GhostHits - b.Cache.GhostHits
					}
				}
			}
			if err != nil {
				closeDB()
				return err
			}
			s := ld.dataSample()
			s.ops, s.bytes, s.seconds = ops, bytes, secs
			hr := hitRatio(before, after)
			scanMB := float64(scanBytes) / secs / 1e6
			if err := t.add(policy, phase, len(hotIDs), scanners, s.cols(), hr, after.Cache.Hits-before.Cache.Hits,
				after.Cache.Misses-before.Cache.Misses, after.Cache.GhostHits-before.Cache.GhostHits, scanMB); err != nil {
				closeDB()
				return err
			}
			hit[policy] = append(hit[policy], hr)
			tput[policy] = append(tput[policy], s.opsPerSec())
			e.progress("%s, %s: hit ratio %.3f, %.0f hot gets/s, scans %.1f MB/s, %d A1out (ghost) hits", policy, phase, hr, s.opsPerSec(), scanMB,
				after.Cache.GhostHits-before.Cache.GhostHits)
		}
		if err := closeDB(); err != nil {
			return err
		}
	}
	title := fmt.Sprintf("%d hot keys, %s of data, buffer pool %s", hot, mib(e.cfg.Final), mib(e.cfg.Cache))
	p1, err := barPlot(panel{title: title, xLabel: "hot gets", yLabel: "buffer-pool hit ratio"}, cachePhaseLabels, policies, hit)
	if err != nil {
		return err
	}
	p1.Y.Max = 1.2
	p2, err := barPlot(panel{title: "Hot-key get throughput", xLabel: "hot gets", yLabel: "gets/s"}, cachePhaseLabels, policies, tput)
	if err != nil {
		return err
	}
	p2.Y.Max *= 1.25
	return savePlots(e.pngPath(), 2, p1, p2)
}

// startScanners starts n goroutines that run full scans over d until the
// returned function is called; it returns the bytes they read.
func startScanners(d *db.DB, n int) (stop func() (int64, error)) {
	var (
		done    atomic.Bool
		read    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		scanErr error
	)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				it := d.Scan(nil, nil)
				var b int64
				for i := 0; it.Next(); i++ {
					b += int64(len(it.Key()) + len(it.Value()))
					if i%1024 == 0 && done.Load() {
						break // abandon the scan when the phase ends
					}
				}
				read.Add(b)
				if err := it.Close(); err != nil {
					errOnce.Do(func() { scanErr = err })
					return
				}
			}
		}()
	}
	return func() (int64, error) {
		done.Store(true)
		wg.Wait()
		return read.Load(), scanErr
	}
}
