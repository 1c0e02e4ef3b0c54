package main

import (
	"fmt"
	"math/rand"
	"runtime"

	"github.com/seed-d6fe07da/strata/db"
)

var (
	goroutineCounts = []int{1, 2, 4, 16, 64}
	goroutineTicks  = []float64{1, 2, 4, 16, 64}
)

// runConcurrency loads one database to the final size with a buffer pool
// smaller than the data, merges it into one run (so that no background
// merge competes with the readers), then measures gets (all present) and seek+100
// scans with 1, 2, 4, 16 and 64 goroutines, each for twice the usual
// measurement time. The ratio column divides by the 1-goroutine rate; on a
// machine with P cores it cannot pass P for long (GOMAXPROCS is recorded).
func runConcurrency(e *env) error {
	t, err := e.newTable(cols([]string{"op", "goroutines", "gomaxprocs"}, sampleHeader,
		[]string{"ratio_to_1", "cache_hit_ratio"})...)
	if err != nil {
		return err
	}
	defer t.close()
	d, closeDB, err := e.openDB("db", db.Options{})
	if err != nil {
		return err
	}
	defer closeDB()
	ld := newLoader(d)
	for _, size := range e.cfg.steps() {
		s, err := ld.putTo(size)
		if err != nil {
			return err
		}
		e.progress("loading: %s (%.0f puts/s)", mib(s.dataBytes), s.opsPerSec())
	}
	if err := compactAll(e, d); err != nil {
		return err
	}
	rates, ratios := newLines(), newLines()
	for _, op := range []string{"get", "seek+100"} {
		base := 0.0
		for _, g := range goroutineCounts {
			before := d.Metrics()
			ops, bytes, secs, err := runOps(g, 2*e.cfg.Measure, e.cfg.MaxOps, func(w int) opFunc {
				rng := rand.New(rand.NewSource(e.cfg.Seed + int64(g*100+w)))
				if op == "get" {
					return getOp(d, rng, ld.n, 100)
				}
				return seekOp(d, rng, 100)
			})
			if err != nil {
				return err
			}
			after := d.Metrics()
			s := ld.dataSample()
			s.ops, s.bytes, s.seconds = ops, bytes, secs
			if g == 1 {
				base = s.opsPerSec()
			}
			ratio := s.opsPerSec() / base
			if err := t.add(op, g, runtime.GOMAXPROCS(0), s.cols(), ratio, hitRatio(before, after)); err != nil {
				return err
			}
			rates.add(op, float64(g), s.opsPerSec())
			ratios.add(op, float64(g), ratio)
			e.progress("%s, %d goroutines: %.0f ops/s (x%.2f of 1 goroutine), hit ratio %.3f", op, g, s.opsPerSec(), ratio, hitRatio(before, after))
		}
	}
	if err := closeDB(); err != nil {
		return err
	}
	title := fmt.Sprintf("%s of data, buffer pool %s, GOMAXPROCS %d", mib(ld.n*entrySize), mib(e.cfg.Cache), runtime.GOMAXPROCS(0))
	p1, err := linePlot(panel{title: title, xLabel: "goroutines (log scale)", yLabel: "ops/s", logX: true, zeroY: true, xTicks: goroutineTicks}, rates)
	if err != nil {
		return err
	}
	p2, err := linePlot(panel{title: "Speed-up over one goroutine", xLabel: "goroutines (log scale)", yLabel: "ops/s ÷ ops/s with 1 goroutine", logX: true, zeroY: true, xTicks: goroutineTicks}, ratios)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 2, p1, p2)
}
