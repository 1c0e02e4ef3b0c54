package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// allEngines is the default engine list and the order of repetition 0.
var allEngines = []string{"strata", "pebble", "goleveldb", "badger"}

// phases in the order a worker runs them (see the package comment).
var phases = []string{
	"fillseq",
	"fillrandom",
	"overwrite",
	"readrandom",
	"readmissing",
	"readrandom4",
	"seeknext100",
	"readseq",
	"readrandom-reopen",
	"readseq-reopen",
}

const (
	keySize   = 16
	valueSize = 100
	entrySize = keySize + valueSize
	// seekNexts is the number of Next calls after each seek.
	seekNexts = 100
	// readers is the number of goroutines of readrandom4.
	readers = 4
)

// config holds the flags of both modes; the driver passes its own values to
// the workers.
type config struct {
	worker   bool
	engine   string
	engines  []string
	workload string
	rep      int

	n           int
	reads       int
	seeks       int
	reps        int
	cacheBytes  int64
	memBytes    int64
	valueRandom float64
	seed        uint64

	dir  string
	out  string
	keep bool

	profilePhase string // worker: the phase to CPU-profile
	profileOut   string // worker: where to write that profile
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.worker, "worker", false, "run one engine's sequence and print a JSON line (used by the driver)")
	fs.StringVar(&c.engine, "engine", "", "worker: strata, pebble, goleveldb or badger")
	engines := fs.String("engines", strings.Join(allEngines, ","), "driver: engines to compare, comma-separated")
	fs.StringVar(&c.workload, "workload", "all", "worker: all, fillseq (step 1 only) or main (steps 2-4)")
	fs.IntVar(&c.rep, "rep", 0, "worker: repetition number (only reported)")
	fs.IntVar(&c.n, "n", 1_000_000, "keys written by each fill (10000000 for the large run)")
	fs.IntVar(&c.reads, "reads", 0, "gets per read phase (default -n)")
	fs.IntVar(&c.seeks, "seeks", 0, "seeks of seeknext100 (default -n/10)")
	fs.IntVar(&c.reps, "reps", 3, "driver: repetitions (one worker per engine per repetition)")
	cache := fs.String("cache", "64MiB", "block cache / buffer pool bytes of every engine")
	mem := fs.String("memtable", "8MiB", "memtable bytes of every engine")
	fs.Float64Var(&c.valueRandom, "value-random", 0.5, "fraction of each value that is random (1 = incompressible)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the key orders (the same for every engine)")
	fs.StringVar(&c.dir, "dir", "", "parent directory of the databases (default: a new directory under $TMPDIR); not tmpfs")
	fs.StringVar(&c.out, "out", "results", "driver: directory for peers.csv, peers.png and peers.md")
	fs.BoolVar(&c.keep, "keep", false, "keep the databases instead of deleting them")
	fs.StringVar(&c.profilePhase, "profile-phase", "", "worker: CPU-profile this phase (for example seeknext100) into -profile-out")
	fs.StringVar(&c.profileOut, "profile-out", "cpu.pprof", "worker: file for the -profile-phase profile")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.cacheBytes, err = parseBytes(*cache); err != nil {
		return nil, fmt.Errorf("-cache: %w", err)
	}
	if c.memBytes, err = parseBytes(*mem); err != nil {
		return nil, fmt.Errorf("-memtable: %w", err)
	}
	for _, e := range strings.Split(*engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.engines = append(c.engines, e)
		}
	}
	for _, e := range append(append([]string(nil), c.engines...), c.engine) {
		if e != "" && !knownEngine(e) {
			return nil, fmt.Errorf("unknown engine %q (want one of %v)", e, allEngines)
		}
	}
	switch {
	case c.n < 10:
		return nil, fmt.Errorf("-n %d: must be at least 10", c.n)
	case c.n > 1e9:
		return nil, fmt.Errorf("-n %d: must be at most 1e9 (keys are 16 decimal digits of 2i)", c.n)
	case c.reps < 1:
		return nil, fmt.Errorf("-reps %d: must be positive", c.reps)
	case c.valueRandom <= 0 || c.valueRandom > 1:
		return nil, fmt.Errorf("-value-random %g: must be in (0, 1]", c.valueRandom)
	case c.worker && c.engine == "":
		return nil, fmt.Errorf("-worker needs -engine")
	case c.workload != "all" && c.workload != "fillseq" && c.workload != "main":
		return nil, fmt.Errorf("-workload %q: want all, fillseq or main", c.workload)
	}
	if c.reads <= 0 {
		c.reads = c.n
	}
	if c.seeks <= 0 {
		c.seeks = max(c.n/10, 1)
	}
	return &c, nil
}

// workerArgs returns the flags that make a worker run engine e with the
// driver's settings.
func (c *config) workerArgs(e string, rep int, dir string) []string {
	return []string{
		"-worker", "-engine", e, "-workload", c.workload, "-rep", strconv.Itoa(rep),
		"-n", strconv.Itoa(c.n), "-reads", strconv.Itoa(c.reads), "-seeks", strconv.Itoa(c.seeks),
		"-cache", strconv.FormatInt(c.cacheBytes, 10), "-memtable", strconv.FormatInt(c.memBytes, 10),
		"-value-random", strconv.FormatFloat(c.valueRandom, 'g', -1, 64),
		"-seed", strconv.FormatUint(c.seed, 10), "-dir", dir,
	}
}

// parseBytes reads "64MiB", "8MB", "1GiB" or a plain number of bytes.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a positive size", s)
	}
	return int64(v * float64(mult)), nil
}
