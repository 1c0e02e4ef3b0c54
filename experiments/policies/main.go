// Command policies loads random keys under one merge policy and reports
// write amplification, space amplification and, for zero-result lookups,
// Bloom false-positive probes: the measurements behind the choice of
// default policy and of Monkey over uniform filter bits.
//
//	cd experiments && go run ./policies -n 10000000 -policy lazy -out ../results/policies.csv
//
// One CSV row per run is appended to -out (the header is written when the
// file is new). It belongs to the experiments module (experiments/go.mod),
// which keeps the plotting dependencies out of the library's go.mod; the
// suite's merge-policies experiment measures the same quantities as the
// database grows, with plots.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

func main() {
	n := flag.Int("n", 1_000_000, "random keys to write (16-byte keys, 100-byte values)")
	policy := flag.String("policy", "lazy", "leveling, tiering or lazy (lazy leveling)")
	T := flag.Int("T", 4, "size ratio")
	uniform := flag.Bool("uniform", false, "uniform Bloom bits instead of Monkey")
	bits := flag.Float64("bits", 10, "average Bloom bits per key")
	lookups := flag.Int("lookups", 200_000, "zero-result lookups for the false-positive count")
	dir := flag.String("dir", "", "database directory (default: a temporary directory, removed at exit)")
	out := flag.String("out", "", "CSV file to append a row to")
	flag.Parse()
	if err := run(*n, *policy, *T, *uniform, *bits, *lookups, *dir, *out); err != nil {
		log.Fatal(err)
	}
}

func policyKZ(policy string, T int) (int, int, error) {
	switch policy {
	case "leveling":
		return 1, 1, nil
	case "tiering":
		return T - 1, T - 1, nil
	case "lazy":
		return T - 1, 1, nil
	}
	return 0, 0, fmt.Errorf("unknown policy %q", policy)
}

func key(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf, i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(buf[8:], i)
	return buf[:16]
}

// waitQuiet waits until no merge has run for a second.
func waitQuiet(d *db.DB) {
	last := d.Metrics().Compactions
	for {
		time.Sleep(time.Second)
		m := d.Metrics()
		if m.Compactions == last && m.ImmutableMemtables == 0 {
			return
		}
		last = m.Compactions
	}
}

func run(n int, policy string, T int, uniform bool, bits float64, lookups int, dir, out string) error {
	K, Z, err := policyKZ(policy, T)
	if err != nil {
		return err
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "strata-policies-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	// NoReadCompactions: the lookups measure the tree the policy shaped.
	opts := &db.Options{SizeRatio: T, RunsPerLevel: K, RunsAtLastLevel: Z, BloomBitsPerKey: bits,
		MemtableSize: 8 << 20, CacheSize: 64 << 20,
		Experimental: db.Experimental{UniformBloom: uniform, NoReadCompactions: true}}
	d, err := db.Open(dir, opts)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(1))
	k := make([]byte, 16)
	v := make([]byte, 100)
	// Keys drawn from a space of n so some are overwritten, as in
	// db_bench's fillrandom.
	distinct := map[uint64]struct{}{}
	start := time.Now()
	for i := 0; i < n; i++ {
		id := uint64(rng.Int63n(int64(n)))
		distinct[id] = struct{}{}
		rng.Read(v)
		if err := d.Put(key(k, id), v); err != nil {
			return err
		}
		if (i+1)%(n/10+1) == 0 {
			fmt.Fprintf(os.Stderr, "%s: %d/%d puts, %.0f ops/s\n", policy, i+1, n, float64(i+1)/time.Since(start).Seconds())
		}
	}
	loadSecs := time.Since(start).Seconds()
	if err := d.Flush(); err != nil {
		return err
	}
	waitQuiet(d)
	m0 := d.Metrics()

	// Zero-result lookups: keys outside the written space.
	start = time.Now()
	for i := 0; i < lookups; i++ {
		if _, err := d.Get(key(k, uint64(n)+uint64(rng.Int63n(int64(n))))); !errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("zero-result lookup: %v", err)
		}
	}
	getSecs := time.Since(start).Seconds()
	m := d.Metrics()
	fp := m.BloomFalsePositives - m0.BloomFalsePositives
	probes := m.BloomChecks - m0.BloomChecks

	var onDisk uint64
	for _, lm := range m.Levels {
		onDisk += lm.Bytes
	}
	live := uint64(len(distinct)) * 116
	wamp := float64(m.WALBytes+m.BytesFlushed+m.CompactionBytesOut) / float64(m.UserBytes)
	samp := float64(onDisk) / float64(live)
	fmt.Fprintf(os.Stderr, "\n%s", m)
	fmt.Printf("policy=%s T=%d K=%d Z=%d uniform=%v n=%d: put %.0f ops/s, write-amp %.2f, space-amp %.3f, zero-result get %.0f ops/s, false-positive probes/lookup %.4f (%d of %d probes), filter bytes %d\n",
		policy, T, K, Z, uniform, n, float64(n)/loadSecs, wamp, samp, float64(lookups)/getSecs,
		float64(fp)/float64(lookups), fp, probes, m.BloomBytes)
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		_, statErr := os.Stat(out)
		f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if statErr != nil {
			fmt.Fprintln(f, "policy,T,K,Z,bloom,entries,data_bytes,put_seconds,put_ops_per_s,put_mb_per_s,write_amp,space_amp,zero_result_gets,get_seconds,get_ops_per_s,false_positive_probes_per_lookup,filter_bytes,levels_runs")
		}
		bloom := "monkey"
		if uniform {
			bloom = "uniform"
		}
		runs := ""
		for l, lm := range m.Levels {
			if lm.Runs > 0 {
				runs += fmt.Sprintf("L%d:%d ", l, lm.Runs)
			}
		}
		fmt.Fprintf(f, "%s,%d,%d,%d,%s,%d,%d,%.3f,%.0f,%.2f,%.3f,%.4f,%d,%.3f,%.0f,%.5f,%d,%s\n",
			policy, T, K, Z, bloom, n, n*116, loadSecs, float64(n)/loadSecs, float64(n)*116/loadSecs/1e6, wamp, samp,
			lookups, getSecs, float64(lookups)/getSecs, float64(fp)/float64(lookups), m.BloomBytes, runs)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return d.Close()
}
