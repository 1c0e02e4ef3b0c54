package main

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// runScans grows one database and, after each step, measures short range
// scans (seek to a random key, read 100 or 1000 entries) and one full scan,
// in MB/s of keys and values read.
func runScans(e *env) error {
	t, err := e.newTable(cols([]string{"scan", "scan_length", "step"}, sampleHeader,
		[]string{"entries_read", "entries_per_s", "cache_hit_ratio"})...)
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
		for _, sc := range []struct {
			name   string
			length int
		}{{"seek+100", 100}, {"seek+1000", 1000}, {"full", 0}} {
			before := d.Metrics()
			var s sample
			if sc.length > 0 {
				ops, bytes, secs, err := runOps(1, e.cfg.Measure, e.cfg.MaxOps, func(int) opFunc {
					return seekOp(d, rand.New(rand.NewSource(e.cfg.Seed+int64(i*10+sc.length))), sc.length)
				})
				if err != nil {
					return err
				}
				s = sample{ops: ops, bytes: bytes, seconds: secs}
			} else {
				start := time.Now()
				bytes, entries, err := fullScan(d)
				if err != nil {
					return err
				}
				if entries != ld.n {
					return fmt.Errorf("full scan read %d entries, want %d", entries, ld.n)
				}
				s = sample{ops: 1, bytes: bytes, seconds: time.Since(start).Seconds()}
			}
			after := d.Metrics()
			entries := s.bytes / entrySize
			s.dataBytes, s.entries = ld.n*entrySize, ld.n
			if err := t.add(sc.name, sc.length, i+1, s.cols(), entries, float64(entries)/s.seconds, hitRatio(before, after)); err != nil {
				return err
			}
			l.add(sc.name, mibOf(s.dataBytes), s.mbPerSec())
			line += fmt.Sprintf(" %s %.1f MB/s;", sc.name, s.mbPerSec())
		}
		e.progress("%s:%s", mib(ld.n*entrySize), line)
	}
	if err := closeDB(); err != nil {
		return err
	}
	p, err := linePlot(panel{title: fmt.Sprintf("Scans as the database grows (buffer pool %s)", mib(e.cfg.Cache)),
		xLabel: "user data (MiB)", yLabel: "MB/s of keys and values read", zeroY: true}, l)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 1, p)
}
