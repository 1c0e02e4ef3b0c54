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
	"fillsync1",
	"fillsync16",
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
	keySize = 16
	// defaultValueSize is db_bench's value size and the default of
	// -value-size.
	defaultValueSize = 100
	// maxValueSize bounds -value-size: a value larger than the memtable
	// would make every put a flush.
	maxValueSize = 1 << 20
	// seekNexts is the number of Next calls after each seek.
	seekNexts = 100
	// readers is the number of goroutines of readrandom4.
	readers = 4
	// syncWriters is the number of goroutines of fillsync16.
	syncWriters = 16
	// maxSyncOps caps the default of -sync-ops: one fsync per put makes
	// these phases slow on every engine that does not group commits.
	maxSyncOps = 20000
)

// config holds the flags of both modes; the driver passes its own values to
// the workers.
type config struct {
	worker   bool
	engine   string
	engines  []string
	workload string
	rep      int

	n       int
	reads   int
	seeks   int
	syncOps int
	// fillseqRounds is how many times fillseq runs, each into a fresh
	// database; its result sums them (worker.fillseq).
	fillseqRounds int
	reps          int
	cacheBytes    int64
	memBytes      int64
	valueSize     int
	valueRandom   float64
	seed          uint64

	// sweep runs the driver once per point of sweepPoints, each with
	// its key count scaled by sweepScale.
	sweep      bool
	sweepScale float64

	ycsbRecords int
	ycsbOps     int

	dir  string
	out  string
	keep bool

	// strataWriteBehind opens Strata with Options.WALWriteBehind: its
	// unsynced writes promise what Pebble's do (a process crash may lose
	// the latest), not more.
	strataWriteBehind bool

	profilePhase string // worker: the phase to CPU-profile
	profileOut   string // worker: where to write that profile
}

// entrySize is the user bytes of one key and its value.
func (c *config) entrySize() int64 { return int64(keySize + c.valueSize) }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.worker, "worker", false, "run one engine's sequence and print a JSON line (used by the driver)")
	fs.StringVar(&c.engine, "engine", "", "worker: strata, pebble, goleveldb or badger")
	engines := fs.String("engines", strings.Join(allEngines, ","), "driver: engines to compare, comma-separated")
	fs.StringVar(&c.workload, "workload", "all", "all (fillseq, sync and main), fillseq (step 1 only), sync (step 2 only), main (steps 3-5) or ycsb (YCSB core workloads A-F)")
	fs.IntVar(&c.rep, "rep", 0, "worker: repetition number (only reported)")
	fs.IntVar(&c.n, "n", 1_000_000, "keys written by each fill (10000000 for the large run)")
	fs.IntVar(&c.reads, "reads", 0, "gets per read phase (default -n)")
	fs.IntVar(&c.seeks, "seeks", 0, "seeks of seeknext100 (default -n/10)")
	fs.IntVar(&c.syncOps, "sync-ops", 0, fmt.Sprintf("puts of fillsync1 and of fillsync16 (default -n/10, at most %d)", maxSyncOps))
	fs.IntVar(&c.fillseqRounds, "fillseq-rounds", defaultFillseqRounds, "fillseq runs this many times, each into a fresh database, and reports the puts over the fills' summed time")
	fs.IntVar(&c.reps, "reps", 3, "driver: repetitions (one worker per engine per repetition)")
	cache := fs.String("cache", "64MiB", "block cache / buffer pool bytes of every engine")
	mem := fs.String("memtable", "8MiB", "memtable bytes of every engine")
	fs.IntVar(&c.valueSize, "value-size", defaultValueSize, "bytes of every value")
	fs.Float64Var(&c.valueRandom, "value-random", 0.5, "fraction of each value that is random (1 = incompressible)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the key orders (the same for every engine)")
	fs.BoolVar(&c.sweep, "sweep", false, "driver: run every value size and randomness of the sweep (see the package comment) instead of one -n/-value-size/-value-random")
	fs.Float64Var(&c.sweepScale, "sweep-scale", 1, "driver: multiply the key count of every sweep point by this (0.01 for a quick run)")
	fs.IntVar(&c.ycsbRecords, "ycsb-records", 300_000, "records of the YCSB load phase")
	fs.IntVar(&c.ycsbOps, "ycsb-ops", 100_000, "operations of each YCSB workload")
	fs.StringVar(&c.dir, "dir", "", "parent directory of the databases (default: a new directory under $TMPDIR); not tmpfs")
	fs.StringVar(&c.out, "out", "results", "driver: directory for the CSV, chart and markdown report")
	fs.BoolVar(&c.keep, "keep", false, "keep the databases instead of deleting them")
	fs.BoolVar(&c.strataWriteBehind, "strata-write-behind", false, "open Strata with Options.WALWriteBehind (unsynced writes promise what Pebble's do)")
	fs.StringVar(&c.profilePhase, "profile-phase", "", "worker: CPU-profile this phase (for example seeknext100) into -profile-out")
	fs.StringVar(&c.profileOut, "profile-out", "cpu.pprof", "worker: file for the -profile-phase profile (an execution trace if it ends in .trace)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
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
	case c.valueSize < 1 || c.valueSize > maxValueSize:
		return nil, fmt.Errorf("-value-size %d: must be in [1, %d]", c.valueSize, maxValueSize)
	case c.valueRandom <= 0 || c.valueRandom > 1:
		return nil, fmt.Errorf("-value-random %g: must be in (0, 1]", c.valueRandom)
	case c.fillseqRounds < 1:
		return nil, fmt.Errorf("-fillseq-rounds %d: must be positive", c.fillseqRounds)
	case c.syncOps < 0:
		return nil, fmt.Errorf("-sync-ops %d: must not be negative", c.syncOps)
	case c.worker && c.engine == "":
		return nil, fmt.Errorf("-worker needs -engine")
	case !validWorkload(c.workload):
		return nil, fmt.Errorf("-workload %q: want all, fillseq, sync, main or ycsb", c.workload)
	case c.sweep && c.worker:
		return nil, fmt.Errorf("-sweep is a driver flag")
	case c.sweep && (set["n"] || set["value-size"] || set["value-random"]):
		return nil, fmt.Errorf("-sweep sets -n, -value-size and -value-random itself (use -sweep-scale for fewer keys)")
	case c.sweep && c.workload == "ycsb":
		return nil, fmt.Errorf("-sweep does not apply to -workload ycsb")
	case c.sweepScale <= 0:
		return nil, fmt.Errorf("-sweep-scale %g: must be positive", c.sweepScale)
	case c.workload == "ycsb" && (set["value-size"] || set["value-random"]):
		return nil, fmt.Errorf("-workload ycsb writes %d-byte random records: -value-size and -value-random do not apply", ycsbRecordSize)
	case c.ycsbRecords < 10 || c.ycsbRecords > 1e9:
		return nil, fmt.Errorf("-ycsb-records %d: must be in [10, 1e9]", c.ycsbRecords)
	case c.ycsbOps < 1:
		return nil, fmt.Errorf("-ycsb-ops %d: must be positive", c.ycsbOps)
	}
	if c.workload == "ycsb" {
		c.valueSize, c.valueRandom = ycsbRecordSize, 1
	}
	if !c.sweep {
		// A sweep fills these in per point, from that point's -n.
		c.applyDefaults()
	}
	return &c, nil
}

func validWorkload(w string) bool {
	switch w {
	case "all", "fillseq", "sync", "main", "ycsb":
		return true
	}
	return false
}

// runs reports whether the workload includes step s ("fillseq", "sync",
// "main" or "ycsb").
func (c *config) runs(s string) bool {
	return c.workload == s || c.workload == "all" && s != "ycsb"
}

// applyDefaults gives -reads, -seeks, -sync-ops and -fillseq-rounds,
// where not set, their defaults, which but the last depend on -n.
func (c *config) applyDefaults() {
	if c.reads <= 0 {
		c.reads = c.n
	}
	if c.seeks <= 0 {
		c.seeks = defaultSeeks(c.n)
	}
	if c.syncOps <= 0 {
		c.syncOps = defaultSyncOps(c.n)
	}
	if c.fillseqRounds <= 0 {
		c.fillseqRounds = defaultFillseqRounds
	}
}

// defaultFillseqRounds is -fillseq-rounds when not set.
const defaultFillseqRounds = 3

// defaultSeeks is -seeks when not set: a tenth of -n.
func defaultSeeks(n int) int { return max(n/10, 1) }

// defaultSyncOps is -sync-ops when not set: a tenth of -n, at most
// maxSyncOps.
func defaultSyncOps(n int) int { return min(max(n/10, 1), maxSyncOps) }

// phaseFlags returns -reads, -seeks, -sync-ops and -fillseq-rounds as a command line gives
// them, where they differ from their defaults for -n (applyDefaults), for
// the report to say how it was made.
func (c *config) phaseFlags() string {
	var f string
	if c.reads != c.n {
		f += fmt.Sprintf(" -reads %d", c.reads)
	}
	if c.seeks != defaultSeeks(c.n) {
		f += fmt.Sprintf(" -seeks %d", c.seeks)
	}
	if c.syncOps != defaultSyncOps(c.n) {
		f += fmt.Sprintf(" -sync-ops %d", c.syncOps)
	}
	if c.fillseqRounds != defaultFillseqRounds {
		f += fmt.Sprintf(" -fillseq-rounds %d", c.fillseqRounds)
	}
	return f
}

// workerArgs returns the flags that make a worker run engine e with the
// driver's settings.
func (c *config) workerArgs(e string, rep int, dir string) []string {
	args := []string{
		"-worker", "-engine", e, "-workload", c.workload, "-rep", strconv.Itoa(rep),
		"-n", strconv.Itoa(c.n), "-reads", strconv.Itoa(c.reads), "-seeks", strconv.Itoa(c.seeks),
		"-sync-ops", strconv.Itoa(c.syncOps), "-fillseq-rounds", strconv.Itoa(c.fillseqRounds),
		"-cache", strconv.FormatInt(c.cacheBytes, 10), "-memtable", strconv.FormatInt(c.memBytes, 10),
		"-seed", strconv.FormatUint(c.seed, 10), "-dir", dir,
	}
	if c.strataWriteBehind {
		args = append(args, "-strata-write-behind")
	}
	if c.workload == "ycsb" {
		return append(args, "-ycsb-records", strconv.Itoa(c.ycsbRecords), "-ycsb-ops", strconv.Itoa(c.ycsbOps))
	}
	return append(args, "-value-size", strconv.Itoa(c.valueSize),
		"-value-random", strconv.FormatFloat(c.valueRandom, 'g', -1, 64))
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
