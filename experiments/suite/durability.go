package main

import (
	"fmt"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/db"
)

// runDurability measures put throughput with SyncWrites off and on, with 1
// and 16 writers. With SyncWrites on, every put waits for a WAL fsync, and
// concurrent writers share one (group commit): 16 writers should beat one
// by a large factor. Each configuration writes new keys for cfg.SyncRun
// (or until the final size), in four samples.
func runDurability(e *env) error {
	t, err := e.newTable(cols([]string{"sync_writes", "writers", "sample"}, sampleHeader, []string{"elapsed_s"})...)
	if err != nil {
		return err
	}
	defer t.close()
	l := newLines()
	mean := map[string]float64{}
	for _, sync := range []bool{true, false} {
		for _, writers := range []int{1, 16} {
			name := fmt.Sprintf("SyncWrites=%v, %d writer", sync, writers)
			if writers > 1 {
				name += "s"
			}
			d, closeDB, err := e.openDB(fmt.Sprintf("sync%v-%d", sync, writers), db.Options{SyncWrites: sync})
			if err != nil {
				return err
			}
			var next atomic.Int64 // ids handed to writers
			var total int64
			var elapsed float64
			const samples = 4
			for i := 1; i <= samples; i++ {
				ops, bytes, secs, err := runOps(writers, e.cfg.SyncRun/samples, e.cfg.Final/entrySize-next.Load(), func(int) opFunc {
					k := make([]byte, keySize)
					v := make([]byte, valueSize)
					return func() (int64, error) {
						id := uint64(next.Add(1) - 1)
						fillValue(v, id)
						return entrySize, d.Put(makeKey(k, id), v)
					}
				})
				if err != nil {
					closeDB()
					return err
				}
				elapsed += secs
				total = next.Load()
				s := sample{dataBytes: total * entrySize, entries: total, ops: ops, bytes: bytes, seconds: secs}
				if err := t.add(sync, writers, i, s.cols(), elapsed); err != nil {
					closeDB()
					return err
				}
				l.add(name, elapsed, s.opsPerSec())
				e.progress("%s, sample %d: %.0f puts/s (%s written)", name, i, s.opsPerSec(), mib(s.dataBytes))
				if total*entrySize >= e.cfg.Final {
					break
				}
			}
			mean[name] = float64(total) / elapsed
			if err := closeDB(); err != nil {
				return err
			}
		}
	}
	speedup := map[string][]float64{}
	for _, sync := range []bool{true, false} {
		g1 := mean[fmt.Sprintf("SyncWrites=%v, 1 writer", sync)]
		g16 := mean[fmt.Sprintf("SyncWrites=%v, 16 writers", sync)]
		speedup["16 writers ÷ 1 writer"] = append(speedup["16 writers ÷ 1 writer"], g16/g1)
		e.progress("SyncWrites=%v: 16 writers %.0f puts/s, 1 writer %.0f puts/s: x%.2f", sync, g16, g1, g16/g1)
	}
	p1, err := linePlot(panel{title: "Put throughput, SyncWrites on and off",
		xLabel: "seconds since the start", yLabel: "puts/s (log scale)", logY: true}, l)
	if err != nil {
		return err
	}
	// Room above the highest line for the legend: one more decade.
	p1.Y.Max *= 20
	p2, err := barPlot(panel{title: "Group commit: speed-up from 16 writers", yLabel: "puts/s with 16 writers ÷ with 1"},
		[]string{"SyncWrites=true", "SyncWrites=false"}, []string{"16 writers ÷ 1 writer"}, speedup)
	if err != nil {
		return err
	}
	p2.Y.Max *= 1.3
	return savePlots(e.pngPath(), 2, p1, p2)
}
