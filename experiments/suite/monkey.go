package main

import (
	"errors"
	"fmt"
	"math/rand"

	"github.com/seed-d6fe07da/strata/db"
)

// runMonkeyVsUniform grows two databases with the same BloomBitsPerKey,
// one with Monkey's allocation (more bits at shallow levels) and one with
// UniformBloom, and after each step measures zero-result gets: their
// throughput and the filter probes that answered "maybe" for a file that
// did not hold the key (Metrics.BloomFalsePositives per lookup).
func runMonkeyVsUniform(e *env) error {
	t, err := e.newTable(cols([]string{"bloom", "bits_per_key", "step"}, sampleHeader,
		[]string{"false_positives_per_lookup", "filter_probes_per_lookup", "filter_bytes", "read_amp_runs", "levels", "level_bits_per_key"})...)
	if err != nil {
		return err
	}
	defer t.close()
	fpLines, getLines := newLines(), newLines()
	for _, uniform := range []bool{false, true} {
		name := "monkey"
		if uniform {
			name = "uniform"
		}
		// NoReadCompactions: the lookups would otherwise fold the levels
		// whose filters are compared.
		d, closeDB, err := e.openDB(name, db.Options{BloomBitsPerKey: e.cfg.Bits, Experimental: db.Experimental{UniformBloom: uniform, NoReadCompactions: true}})
		if err != nil {
			return err
		}
		ld := newLoader(d)
		for i, size := range e.cfg.steps() {
			if _, err := ld.putTo(size); err != nil {
				closeDB()
				return err
			}
			e.settle(d)
			before := d.Metrics()
			ops, bytes, secs, err := runOps(1, e.cfg.Measure, e.cfg.MaxOps, func(int) opFunc {
				rng := rand.New(rand.NewSource(e.cfg.Seed + int64(i)))
				k := make([]byte, keySize)
				return func() (int64, error) {
					if _, err := d.Get(makeKey(k, absentID(rng))); !errors.Is(err, db.ErrNotFound) {
						return 0, fmt.Errorf("zero-result get: %v", err)
					}
					return keySize, nil
				}
			})
			if err != nil {
				closeDB()
				return err
			}
			after := d.Metrics()
			s := ld.dataSample()
			s.ops, s.bytes, s.seconds = ops, bytes, secs
			fp := float64(after.BloomFalsePositives-before.BloomFalsePositives) / float64(ops)
			probes := float64(after.BloomChecks-before.BloomChecks) / float64(ops)
			if err := t.add(name, e.cfg.Bits, i+1, s.cols(), fp, probes, after.BloomBytes, after.ReadAmplification,
				levelsString(after), levelBits(after)); err != nil {
				closeDB()
				return err
			}
			fpLines.add(name, mibOf(s.dataBytes), fp)
			getLines.add(name, mibOf(s.dataBytes), s.opsPerSec())
			e.progress("%s %s: %.4f false-positive probes per lookup (%.2f probes), %.0f zero-result gets/s, %s [%s]",
				name, mib(s.dataBytes), fp, probes, s.opsPerSec(), levelsString(after), levelBits(after))
		}
		if err := closeDB(); err != nil {
			return err
		}
	}
	title := fmt.Sprintf("Zero-result lookups, %g Bloom bits per key", e.cfg.Bits)
	p1, err := linePlot(panel{title: title, xLabel: "user data (MiB)", yLabel: "false-positive probes per lookup", zeroY: true}, fpLines)
	if err != nil {
		return err
	}
	p2, err := linePlot(panel{title: title, xLabel: "user data (MiB)", yLabel: "zero-result gets/s", zeroY: true}, getLines)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 2, p1, p2)
}

// levelBits lists the mean Bloom bits per key of each non-empty level.
func levelBits(m db.Metrics) string {
	s := ""
	for l, lm := range m.Levels {
		if lm.Files > 0 {
			if s != "" {
				s += " "
			}
			s += fmt.Sprintf("L%d:%.1f", l, lm.BloomBitsPerKey)
		}
	}
	return s
}
