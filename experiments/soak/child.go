package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// childConfig is what the parent tells a child on its command line.
type childConfig struct {
	dbDir, logPath, modelPath string
	seed, opBase              uint64
	keys, writers, pageSize   int
	sync                      bool
	compression               string
}

func (c childConfig) args() []string {
	return []string{"-child",
		"-db", c.dbDir, "-log", c.logPath, "-model", c.modelPath,
		"-seed", fmt.Sprint(c.seed), "-opbase", fmt.Sprint(c.opBase),
		"-keys", fmt.Sprint(c.keys), "-writers", fmt.Sprint(c.writers),
		"-page-size", fmt.Sprint(c.pageSize), "-sync=" + fmt.Sprint(c.sync),
		"-compression", c.compression,
	}
}

func parseChildConfig(args []string) (childConfig, error) {
	var c childConfig
	fs := flag.NewFlagSet("soak -child", flag.ContinueOnError)
	fs.StringVar(&c.dbDir, "db", "", "database directory")
	fs.StringVar(&c.logPath, "log", "", "op log to append to")
	fs.StringVar(&c.modelPath, "model", "", "expected state at start")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.Uint64Var(&c.opBase, "opbase", 1, "id of the first operation")
	fs.IntVar(&c.keys, "keys", 20000, "size of the key space")
	fs.IntVar(&c.writers, "writers", 2, "writer goroutines")
	fs.IntVar(&c.pageSize, "page-size", 1024, "Options.PageSize")
	fs.BoolVar(&c.sync, "sync", false, "Options.SyncWrites")
	fs.StringVar(&c.compression, "compression", "snappy", "Options.Compression")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.dbDir == "" || c.logPath == "" || c.modelPath == "" || c.opBase == 0 {
		return c, fmt.Errorf("-db, -log, -model and -opbase are required")
	}
	return c, nil
}

// dbOptions are the options of every open: small enough that flushes,
// merges and file turnover happen every few hundred writes.
func dbOptions(pageSize int, sync bool, compression string) *db.Options {
	return &db.Options{
		MemtableSize:        256 << 10,
		PageSize:            pageSize,
		CacheSize:           4 << 20,
		L0CompactionTrigger: 2,
		TargetFileSize:      512 << 10,
		SyncWrites:          sync,
		Compression:         compressionOption(compression),
	}
}

// compressionOption is the Options.Compression the -compression flag
// names: "none", else Snappy.
func compressionOption(name string) db.Compression {
	if name == "none" {
		return db.NoCompression
	}
	return db.SnappyCompression
}

// child is the process the parent kills: writers that log and issue
// mutations and check their reads, and a snapshot reader per writer.
type child struct {
	cfg    childConfig
	d      *db.DB
	log    *os.File
	model  []uint64 // writer w alone reads and writes its partition
	nextOp atomic.Uint64
	ops    atomic.Uint64
	stop   atomic.Bool
}

// snapJob is a snapshot handed to a reader with the writer's view of its
// partition at the moment it was taken.
type snapJob struct {
	snap *db.Snapshot
	v    view
	op   uint64 // the last op id allocated when it was taken
}

// childMain runs a child and returns its exit status: 0 after a clean stop
// (SIGTERM), 2 after a check failed (reported on stderr, prefixed
// "soak-error: "), 3 when the parent went away.
func childMain(args []string) int {
	cfg, err := parseChildConfig(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak-error: child: %v\n", err)
		return 2
	}
	// Ctrl-C is for the parent, which then stops the child itself; the
	// parent stops children with SIGTERM (a clean Close) or SIGKILL.
	signal.Ignore(os.Interrupt)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		// The parent holds the other end of stdin: EOF means it died.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()

	c := &child{cfg: cfg}
	c.nextOp.Store(cfg.opBase - 1)
	if c.model, err = readModel(cfg.modelPath, cfg.keys); err != nil {
		c.fail("%v", err)
	}
	if c.log, err = os.OpenFile(cfg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		c.fail("%v", err)
	}
	if c.d, err = db.Open(cfg.dbDir, dbOptions(cfg.pageSize, cfg.sync, cfg.compression)); err != nil {
		c.fail("open: %v", err)
	}
	go c.progress()

	var writers, readers sync.WaitGroup
	jobs := make([]chan snapJob, cfg.writers)
	busy := make([]atomic.Bool, cfg.writers)
	for w := range cfg.writers {
		jobs[w] = make(chan snapJob, 1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.snapshotReader(w, jobs[w], &busy[w])
		}()
		writers.Add(1)
		go func() {
			defer writers.Done()
			c.writer(w, jobs[w], &busy[w])
		}()
	}
	<-term
	c.stop.Store(true)
	writers.Wait()
	for _, ch := range jobs {
		close(ch)
	}
	readers.Wait()
	if err := c.d.Close(); err != nil {
		c.fail("close: %v", err)
	}
	fmt.Printf("soak-progress %d\n", c.ops.Load())
	return 0
}

// fail reports a failed check or an unexpected error and exits: what the
// writers believe is no longer certain. The parent checks the database as
// after a kill.
func (c *child) fail(format string, args ...any) {
	os.Stderr.WriteString("soak-error: " + fmt.Sprintf(format, args...) + "\n")
	os.Exit(2)
}

// progress prints the operation count fifty times a second; the parent
// keeps the last one it saw.
func (c *child) progress() {
	for range time.Tick(20 * time.Millisecond) {
		fmt.Printf("soak-progress %d\n", c.ops.Load())
	}
}

// partition returns writer w's keys: writers own disjoint, window-aligned
// ranges, so each knows the exact state of its keys.
func partition(w, writers, keys int) (lo, hi int) {
	per := keys / writers
	return w * per, (w + 1) * per
}

// The operation mix, in parts per 100000 of each writer's steps.
var mix = []struct {
	name   string
	weight int
}{
	{"put", 31000}, {"delete", 5000}, {"batch", 8000}, {"range", 600},
	{"get", 25000}, {"absent", 3000}, {"scan", 11000}, {"seek", 16000},
	{"snapshot", 250}, {"flush", 100}, {"compact-range", 30}, {"compact-all", 2},
}

func pick(rng *rand.Rand) string {
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	x := rng.IntN(total)
	for _, m := range mix {
		if x -= m.weight; x < 0 {
			return m.name
		}
	}
	panic("unreachable")
}

// hotKeys is the head of each partition that a quarter of puts, deletes
// and gets go to, so some keys have many versions spread over the levels.
const hotKeys = 300

func (c *child) writer(w int, jobs chan<- snapJob, busy *atomic.Bool) {
	lo, hi := partition(w, c.cfg.writers, c.cfg.keys)
	v := view{lo: lo, vers: c.model[lo:hi], n: c.cfg.keys}
	rng := rand.New(rand.NewPCG(c.cfg.seed, uint64(w)))
	key := func() int {
		if rng.IntN(4) == 0 {
			return lo + rng.IntN(min(hotKeys, hi-lo))
		}
		return lo + rng.IntN(hi-lo)
	}
	var buf []byte
	for !c.stop.Load() {
		var err error
		switch op := pick(rng); op {
		case "put":
			i := key()
			err = c.mutate(w, &buf, &intent{kind: "put", writes: []write{{kind: 'P', a: i}}}, func(op uint64) error {
				return c.d.Put(keyOf(i), valueFor(i, version(op, 0)))
			})
		case "delete":
			i := key()
			err = c.mutate(w, &buf, &intent{kind: "del", writes: []write{{kind: 'D', a: i}}}, func(uint64) error {
				return c.d.Delete(keyOf(i))
			})
		case "batch":
			in := &intent{kind: "batch"}
			for range 2 + rng.IntN(7) {
				switch x := rng.IntN(10); {
				case x < 6:
					in.writes = append(in.writes, write{kind: 'P', a: key()})
				case x < 9:
					in.writes = append(in.writes, write{kind: 'D', a: key()})
				default:
					a := lo + rng.IntN(hi-lo)
					in.writes = append(in.writes, write{kind: 'R', a: a, b: min(a+1+rng.IntN(20), hi)})
				}
			}
			err = c.mutate(w, &buf, in, func(op uint64) error {
				b := c.d.NewBatch()
				for j, wr := range in.writes {
					var err error
					switch wr.kind {
					case 'P':
						err = b.Put(keyOf(wr.a), valueFor(wr.a, version(op, j)))
					case 'D':
						err = b.Delete(keyOf(wr.a))
					case 'R':
						err = b.DeleteRange(bound(wr.a, v.n, true, rng), bound(wr.b, v.n, false, rng))
					}
					if err != nil {
						return err
					}
				}
				return c.d.Write(b)
			})
		case "range":
			a, b := pickRange(rng, lo, hi)
			start, end := bound(a, v.n, true, rng), bound(b, v.n, false, rng)
			err = c.mutate(w, &buf, &intent{kind: "range", writes: []write{{kind: 'R', a: a, b: b}}}, func(uint64) error {
				return c.d.DeleteRange(start, end)
			})
		case "get":
			err = checkGet(c.d, v, key())
		case "absent":
			err = checkAbsent(c.d, key())
		case "scan":
			a, b := pickScan(rng, lo, hi)
			err = checkScan(c.d, v, a, b, 1+rng.IntN(64), rng.IntN(3) == 0, rng)
		case "seek":
			err = checkSeek(c.d, v, rng)
		case "snapshot":
			if busy.Load() {
				break
			}
			busy.Store(true)
			snap := c.d.NewSnapshot()
			if snap == nil {
				err = fmt.Errorf("NewSnapshot returned nil on an open database")
				break
			}
			jobs <- snapJob{snap: snap, v: view{lo: lo, vers: append([]uint64(nil), v.vers...), n: v.n}, op: c.nextOp.Load()}
		case "flush":
			err = c.d.Flush()
		case "compact-range":
			a, b := pickRange(rng, lo, hi)
			err = c.d.Compact(bound(a, v.n, true, rng), bound(b, v.n, false, rng))
		case "compact-all":
			err = c.d.Compact(nil, nil)
		}
		if err != nil {
			c.fail("writer %d: %v", w, err)
		}
		c.ops.Add(1)
	}
}

// mutate logs in's intent, issues it with do, logs the ack and applies it
// to the model.
func (c *child) mutate(w int, buf *[]byte, in *intent, do func(op uint64) error) error {
	in.op = c.nextOp.Add(1)
	in.writer = w
	*buf = appendIntent((*buf)[:0], in)
	if _, err := c.log.Write(*buf); err != nil {
		return fmt.Errorf("op log: %w", err)
	}
	if err := do(in.op); err != nil {
		return fmt.Errorf("op %d (%s %v): %w", in.op, in.kind, in.writes, err)
	}
	*buf = appendAck((*buf)[:0], in.op)
	if _, err := c.log.Write(*buf); err != nil {
		return fmt.Errorf("op log: %w", err)
	}
	in.apply(c.model)
	return nil
}

// pickRange returns a range to delete or compact in [lo, hi): one to three
// whole windows half the time (what DeleteRange is for), else up to 150
// keys anywhere; now and then it runs to an end of the partition.
func pickRange(rng *rand.Rand, lo, hi int) (a, b int) {
	if rng.IntN(2) == 0 {
		a = lo + windowKeys*rng.IntN((hi-lo)/windowKeys)
		b = min(a+windowKeys*(1+rng.IntN(3)), hi)
	} else {
		a = lo + rng.IntN(hi-lo)
		b = min(a+1+rng.IntN(150), hi)
	}
	if rng.IntN(50) == 0 {
		a = lo
	}
	if rng.IntN(50) == 0 {
		b = hi
	}
	return a, b
}

// pickScan returns a range to scan in [lo, hi): up to 300 keys, or the
// whole partition one time in twenty.
func pickScan(rng *rand.Rand, lo, hi int) (a, b int) {
	if rng.IntN(20) == 0 {
		return lo, hi
	}
	a = lo + rng.IntN(hi-lo)
	return a, min(a+1+rng.IntN(300), hi)
}

// snapshotReader checks the snapshots its writer hands over, each with a
// few hundred to a couple of thousand reads while the writer goes on, then
// closes it.
func (c *child) snapshotReader(w int, jobs <-chan snapJob, busy *atomic.Bool) {
	rng := rand.New(rand.NewPCG(c.cfg.seed, 1000+uint64(w)))
	for job := range jobs {
		v := job.v
		for k, n := 0, 200+rng.IntN(2000); k < n && !c.stop.Load(); k++ {
			var err error
			switch x := rng.IntN(100); {
			case x < 40:
				err = checkGet(job.snap, v, v.lo+rng.IntN(len(v.vers)))
			case x < 45:
				err = checkAbsent(job.snap, v.lo+rng.IntN(len(v.vers)))
			case x < 70:
				a, b := pickScan(rng, v.lo, v.hi())
				err = checkScan(job.snap, v, a, b, 1+rng.IntN(200), rng.IntN(3) == 0, rng)
			default:
				err = checkSeek(job.snap, v, rng)
			}
			if err != nil {
				c.fail("snapshot reader %d (snapshot taken after op %d): %v", w, job.op, err)
			}
			c.ops.Add(1)
		}
		if err := job.snap.Close(); err != nil {
			c.fail("snapshot reader %d: close: %v", w, err)
		}
		busy.Store(false)
	}
}

// writeModel and readModel store the expected state the parent hands a
// child: one little-endian uint64 version per key.
func writeModel(path string, model []uint64) error {
	buf := make([]byte, 8*len(model))
	for i, v := range model {
		binary.LittleEndian.PutUint64(buf[8*i:], v)
	}
	return os.WriteFile(path, buf, 0o644)
}

func readModel(path string, n int) ([]uint64, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(buf) != 8*n {
		return nil, fmt.Errorf("%s: %d bytes, want %d for %d keys", path, len(buf), 8*n, n)
	}
	model := make([]uint64, n)
	for i := range model {
		model[i] = binary.LittleEndian.Uint64(buf[8*i:])
	}
	return model, nil
}
