package main

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/db"
)

// runPutGrowth loads one database per size ratio T (2, 4, 8) with new keys
// in random order and records the put throughput of every step. The other
// options are the defaults (lazy leveling: K = T-1, Z = 1), so T alone
// changes between the three databases.
func runPutGrowth(e *env) error {
	t, err := e.newTable(cols([]string{"size_ratio", "runs_per_level", "runs_at_last_level", "step"}, sampleHeader,
		[]string{"write_amp", "write_stalls", "write_slowdowns", "levels"})...)
	if err != nil {
		return err
	}
	defer t.close()
	l := newLines()
	for _, T := range []int{2, 4, 8} {
		d, closeDB, err := e.openDB(fmt.Sprintf("T%d", T), db.Options{SizeRatio: T})
		if err != nil {
			return err
		}
		ld := newLoader(d)
		for i, size := range e.cfg.steps() {
			s, err := ld.putTo(size)
			if err != nil {
				closeDB()
				return err
			}
			m := d.Metrics()
			if err := t.add(T, T-1, 1, i+1, s.cols(), m.WriteAmplification, m.WriteStalls, m.WriteSlowdowns, levelsString(m)); err != nil {
				closeDB()
				return err
			}
			l.add(fmt.Sprintf("T=%d", T), mibOf(s.dataBytes), s.opsPerSec())
			e.progress("T=%d %s: %.0f puts/s (%.1f MB/s), write-amp %.2f, %s", T, mib(s.dataBytes), s.opsPerSec(), s.mbPerSec(), m.WriteAmplification, levelsString(m))
		}
		if err := closeDB(); err != nil {
			return err
		}
	}
	p, err := linePlot(panel{title: "Put throughput as the database grows (lazy leveling, K=T-1, Z=1)",
		xLabel: "user data (MiB)", yLabel: "puts/s in the step", zeroY: true}, l)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 1, p)
}
