package main

import (
	"fmt"
	"math/rand"

	"github.com/seed-d6fe07da/strata/db"
	"gonum.org/v1/plot"
)

// mergePolicy is one setting of Dostoevsky's K and Z for a size ratio T.
type mergePolicy struct {
	name string
	k, z func(T int) int
}

var mergePolicies = []mergePolicy{
	{"leveling", func(int) int { return 1 }, func(int) int { return 1 }},
	{"lazy leveling", func(T int) int { return T - 1 }, func(int) int { return 1 }},
	{"tiering", func(T int) int { return T - 1 }, func(T int) int { return T - 1 }},
}

// policyT is the size ratio merge-policies runs at (the default).
const policyT = 4

// runMergePolicies grows one database per merge policy with puts whose
// keys are drawn uniformly from a space as large as the final entry count
// (as db_bench's fillrandom: later steps overwrite more and more keys).
// After each step it flushes, lets merges finish and records the step's
// put throughput, the throughput of gets of written keys, the write
// amplification (WAL + flush + merge output bytes per user byte) and the
// space amplification (bytes of all levels per byte of live entries).
func runMergePolicies(e *env) error {
	t, err := e.newTable(cols([]string{"policy", "size_ratio", "runs_per_level", "runs_at_last_level", "step"}, sampleHeader,
		[]string{"get_ops", "get_seconds", "get_ops_per_s", "get_mb_per_s", "write_amp", "space_amp", "live_entries", "disk_bytes", "levels"})...)
	if err != nil {
		return err
	}
	defer t.close()
	putL, getL, wampL, sampL := newLines(), newLines(), newLines(), newLines()
	space := uint64(e.cfg.Final / entrySize)
	idOf := func(i int64) uint64 { return mix(uint64(i)^0x5eed) % space }
	for _, pol := range mergePolicies {
		K, Z := pol.k(policyT), pol.z(policyT)
		// NoReadCompactions: the gets would otherwise fold the runs and levels
		// the policy leaves, which are what is compared.
		d, closeDB, err := e.openDB(fmt.Sprintf("K%dZ%d", K, Z), db.Options{SizeRatio: policyT, RunsPerLevel: K, RunsAtLastLevel: Z, Experimental: db.Experimental{NoReadCompactions: true}})
		if err != nil {
			return err
		}
		ld := newLoader(d)
		seen := make([]uint64, (space+63)/64)
		var live int64
		ld.idOf = func(i int64) uint64 {
			id := idOf(i)
			if seen[id/64]&(1<<(id%64)) == 0 {
				seen[id/64] |= 1 << (id % 64)
				live++
			}
			return id
		}
		for i, size := range e.cfg.steps() {
			put, err := ld.putTo(size)
			if err == nil {
				err = d.Flush()
			}
			if err != nil {
				closeDB()
				return err
			}
			e.settle(d)
			m := d.Metrics()
			wamp := float64(m.WALBytes+m.BytesFlushed+m.CompactionBytesOut) / float64(m.UserBytes)
			samp := float64(diskBytes(m)) / float64(live*entrySize)
			n := ld.n
			ops, bytes, secs, err := runOps(1, e.cfg.Measure, e.cfg.MaxOps, func(int) opFunc {
				rng := rand.New(rand.NewSource(e.cfg.Seed + int64(i)))
				k := make([]byte, keySize)
				want := make([]byte, valueSize)
				return func() (int64, error) {
					id := idOf(rng.Int63n(n))
					v, err := d.Get(makeKey(k, id))
					if err != nil {
						return 0, fmt.Errorf("get of written key %d: %w", id, err)
					}
					fillValue(want, id)
					if string(v) != string(want) {
						return 0, fmt.Errorf("get of key %d: wrong value", id)
					}
					return keySize + int64(len(v)), nil
				}
			})
			if err != nil {
				closeDB()
				return err
			}
			get := sample{ops: ops, bytes: bytes, seconds: secs}
			if err := t.add(pol.name, policyT, K, Z, i+1, put.cols(), ops, secs, get.opsPerSec(), get.mbPerSec(),
				wamp, samp, live, diskBytes(m), levelsString(m)); err != nil {
				closeDB()
				return err
			}
			label := fmt.Sprintf("%s (K=%d, Z=%d)", pol.name, K, Z)
			x := mibOf(put.dataBytes)
			putL.add(label, x, put.opsPerSec())
			getL.add(label, x, get.opsPerSec())
			wampL.add(label, x, wamp)
			sampL.add(label, x, samp)
			e.progress("%s %s: %.0f puts/s, %.0f gets/s, write-amp %.2f, space-amp %.3f, %s",
				pol.name, mib(put.dataBytes), put.opsPerSec(), get.opsPerSec(), wamp, samp, levelsString(m))
		}
		if err := closeDB(); err != nil {
			return err
		}
	}
	x := "user data written (MiB)"
	var plots []*plot.Plot
	for _, pp := range []struct {
		l        *lines
		title, y string
	}{
		{putL, "Put throughput", "puts/s in the step"},
		{getL, "Get throughput (keys written before)", "gets/s"},
		{wampL, "Write amplification (WAL + flush + merge bytes)", "bytes written / user bytes"},
		{sampL, "Space amplification (after merges settle)", "SST bytes / live entry bytes"},
	} {
		p, err := linePlot(panel{title: fmt.Sprintf("%s, T=%d", pp.title, policyT), xLabel: x, yLabel: pp.y, zeroY: true}, pp.l)
		if err != nil {
			return err
		}
		plots = append(plots, p)
	}
	return savePlots(e.pngPath(), 2, plots...)
}
