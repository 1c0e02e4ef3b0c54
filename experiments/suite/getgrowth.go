package main

import (
	"fmt"
	"math/rand"

	"github.com/seed-d6fe07da/strata/db"
)

// runGetGrowth grows one database (default options, the configured
// memtable and buffer pool) and, after each step, measures gets of which
// 0%, 50% and 100% find their key.
func runGetGrowth(e *env) error {
	t, err := e.newTable(cols([]string{"present_pct", "step"}, sampleHeader,
		[]string{"cache_hit_ratio", "bloom_false_positives_per_get", "read_amp_runs", "levels"})...)
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
	l := newLines()
	for i, size := range e.cfg.steps() {
		if _, err := ld.putTo(size); err != nil {
			return err
		}
		e.settle(d)
		line := ""
		for _, pct := range []int{0, 50, 100} {
			before := d.Metrics()
			ops, bytes, secs, err := runOps(1, e.cfg.Measure, e.cfg.MaxOps, func(w int) opFunc {
				return getOp(d, rand.New(rand.NewSource(e.cfg.Seed+int64(i*100+pct))), ld.n, pct)
			})
			if err != nil {
				return err
			}
			after := d.Metrics()
			s := ld.dataSample()
			s.ops, s.bytes, s.seconds = ops, bytes, secs
			fp := float64(after.BloomFalsePositives-before.BloomFalsePositives) / float64(ops)
			if err := t.add(pct, i+1, s.cols(), hitRatio(before, after), fp, after.ReadAmplification, levelsString(after)); err != nil {
				return err
			}
			l.add(fmt.Sprintf("%d%% present", pct), mibOf(s.dataBytes), s.opsPerSec())
			line += fmt.Sprintf(" %d%%: %.0f gets/s", pct, s.opsPerSec())
		}
		e.progress("%s:%s", mib(ld.n*entrySize), line)
	}
	if err := closeDB(); err != nil {
		return err
	}
	p, err := linePlot(panel{title: fmt.Sprintf("Get throughput as the database grows (buffer pool %s)", mib(e.cfg.Cache)),
		xLabel: "user data (MiB)", yLabel: "gets/s", zeroY: true}, l)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 1, p)
}
