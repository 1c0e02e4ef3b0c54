// Command suite runs Strata's experiments. Each experiment writes
// <out>/<name>.csv (a header row, one row per sample) and <out>/<name>.png
// (a gonum plot), and prints a line per sample to stderr.
//
//	go run ./suite -quick                        # every experiment, small sizes (about two minutes)
//	go run ./suite                               # full sizes: each database grows to 1 GiB
//	go run ./suite -quick -only scans,durability # a subset
//	go run ./suite -list                         # names and one-line descriptions
//
// run_experiments.sh at the repository root builds this program and runs it
// with -out results. See experiments/README.md for what each experiment
// measures and how to read its CSV.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// experiment is one measurement the suite can run.
type experiment struct {
	name string
	doc  string
	run  func(e *env) error
}

// experiments lists the suite in the order it runs.
var experiments = []experiment{
	{"put-growth", "Put throughput per step as the database grows, SizeRatio 2, 4 and 8", runPutGrowth},
	{"get-growth", "Get throughput per step with 0%, 50% and 100% of the queried keys present", runGetGrowth},
	{"btree-vs-binary", "SST point lookups: B+Tree descent against binary search over the leaf pages, buffer pool smaller than the file", runBTreeVsBinary},
	{"monkey-vs-uniform", "zero-result lookups: false-positive probes and throughput, Monkey against uniform Bloom bits", runMonkeyVsUniform},
	{"merge-policies", "leveling, lazy leveling and tiering: put and get throughput, write and space amplification", runMergePolicies},
	{"scans", "seek+100, seek+1000 and full scans in MB/s as the database grows", runScans},
	{"concurrency", "gets and seek+100 scans with 1, 2, 4, 16 and 64 goroutines, buffer pool smaller than the data", runConcurrency},
	{"cache-policy", "2Q against LRU: hit ratio and hot-key get throughput under concurrent long scans", runCachePolicy},
	{"durability", "Put throughput with SyncWrites on (1 and 16 writers: group commit) and off", runDurability},
}

func main() {
	quick := flag.Bool("quick", false, "small sizes: each database grows to 48 MiB in 8 MiB steps (the whole suite takes about two minutes)")
	only := flag.String("only", "", "comma-separated experiments to run (default: all; see -list)")
	list := flag.Bool("list", false, "list the experiments and exit")
	out := flag.String("out", "results", "directory for the CSV and PNG files")
	tmp := flag.String("tmp", "", "directory under which the databases are created and removed (default: the system temp dir, unless it is a tmpfs)")
	finalSize := flag.String("size", "", "override the final user-data size per database, e.g. 256MiB")
	stepSize := flag.String("step", "", "override the sample step, e.g. 8MiB")
	searchModes := flag.String("search-modes", "btree,binary", "btree-vs-binary: SST search modes to measure ")
	bits := flag.Float64("bits", 10, "monkey-vs-uniform: Bloom bits per key (the same total for both)")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()

	if *list {
		for _, x := range experiments {
			fmt.Printf("%-18s %s\n", x.name, x.doc)
		}
		return
	}
	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	var err error
	if *finalSize != "" {
		if cfg.Final, err = parseSize(*finalSize); err != nil {
			log.Fatalf("-size: %v", err)
		}
	}
	if *stepSize != "" {
		if cfg.Step, err = parseSize(*stepSize); err != nil {
			log.Fatalf("-step: %v", err)
		}
	}
	cfg.SearchModes = strings.Split(*searchModes, ",")
	cfg.Bits = *bits
	cfg.Seed = *seed
	if err := cfg.validate(); err != nil {
		log.Fatal(err)
	}

	selected, err := selectExperiments(*only)
	if err != nil {
		log.Fatal(err)
	}
	root, cleanup, err := scratchRoot(*tmp, *out)
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	// An interrupted run still removes its databases. The experiment then
	// fails (its files vanish); interrupted keeps that failure quiet while
	// the handler finishes.
	var interrupted atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		interrupted.Store(true)
		fmt.Fprintf(os.Stderr, "suite: %v: removing %s\n", s, root)
		cleanup()
		os.Exit(130)
	}()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		cleanup()
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "suite: %s; databases under %s\n", cfg, root)
	start := time.Now()
	var failed, written []string
	for _, x := range selected {
		t0 := time.Now()
		e := &env{cfg: cfg, name: x.name, out: *out, tmp: root}
		if err := x.run(e); err != nil {
			if interrupted.Load() {
				select {} // the signal handler exits
			}
			fmt.Fprintf(os.Stderr, "[%s] FAILED: %v\n", x.name, err)
			failed = append(failed, x.name)
			continue
		}
		fmt.Fprintf(os.Stderr, "[%s] done in %.1fs\n", x.name, time.Since(t0).Seconds())
		written = append(written, e.csvPath(), e.pngPath())
	}
	fmt.Printf("suite: %d experiments (%s config) in %.1fs; wrote:\n", len(selected), cfg.Name, time.Since(start).Seconds())
	for _, f := range written {
		fmt.Printf("  %s\n", f)
	}
	if len(failed) > 0 {
		fmt.Printf("suite: FAILED: %s\n", strings.Join(failed, ", "))
		cleanup()
		os.Exit(1)
	}
}

// selectExperiments returns the experiments named in the comma-separated
// list only, in suite order; an empty list selects all.
func selectExperiments(only string) ([]experiment, error) {
	if only == "" {
		return experiments, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var sel []experiment
	for _, x := range experiments {
		if want[x.name] {
			sel = append(sel, x)
			delete(want, x.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("unknown experiment %q (see -list)", n)
	}
	return sel, nil
}
