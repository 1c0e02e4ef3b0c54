package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/seed-d6fe07da/strata/db"
)

const benchAbout = `
Runs db_bench's workloads, in the order given, against the database in DIR
(created if there is none; it needs the database's lock) and prints, for
each, the operations per second and the median and 99th-percentile
latency of one operation. Keys are the numbers 0 to N-1, zero-padded to
--key-size bytes; values are --value-size random (incompressible) bytes.

  fillseq       put keys 0 .. N-1 in order
  fillrandom    put N keys drawn at random from [0, N)
  overwrite     the same as fillrandom, run on a filled database
  deleterandom  delete N keys drawn at random
  readrandom    get N keys drawn at random (reports how many were found)
  readmissing   get N keys that are never written
  seekrandom    seek an iterator to N random keys, reading the key found
  readseq       read N entries in key order with one iterator per thread
  readreverse   the same, in descending order

Threads share the N operations. A progress bar is drawn on stderr when it
is a terminal, unless --quiet.`

// workloads maps each workload name to whether it writes (the rest read).
var workloads = map[string]bool{
	"fillseq": true, "fillrandom": true, "overwrite": true, "deleterandom": true,
	"readrandom": false, "readmissing": false, "seekrandom": false, "readseq": false, "readreverse": false,
}

// bench holds a run's settings and the database.
type bench struct {
	d                  *db.DB
	n                  int64
	keySize, valueSize int
	threads            int
	values             []byte // random bytes values are cut from
	bar                bool   // draw progress bars
	stderr, stdout     io.Writer
	workload           string
	next, done, found  atomic.Int64
	latencies          [][]time.Duration // per thread
	errMu              sync.Mutex
	err                error
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", stderr, benchAbout)
	list := fs.String("workload", "fillrandom,readrandom,seekrandom,readseq", "comma-separated `workloads` to run in order")
	n := fs.Int64("n", 100000, "operations per workload, and the key space")
	valueSize := fs.Int("value-size", 100, "value `bytes`")
	keySize := fs.Int("key-size", 16, "key `bytes`")
	threads := fs.Int("threads", 1, "goroutines sharing the operations")
	quiet := fs.Bool("quiet", false, "no progress bar")
	syncWrites := fs.Bool("sync", false, "sync the WAL on every write (Options.SyncWrites)")
	stats := fs.Bool("stats", false, "print the database's metrics after the workloads")
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	names := strings.Split(*list, ",")
	var err error
	for _, w := range names {
		if _, ok := workloads[w]; !ok {
			err = fmt.Errorf("unknown workload %q", w)
		}
	}
	switch {
	case *n < 1:
		err = fmt.Errorf("--n %d: must be positive", *n)
	case *threads < 1 || *threads > 1024:
		err = fmt.Errorf("--threads %d: must be in [1, 1024]", *threads)
	case *valueSize < 0 || *valueSize > 64<<20:
		err = fmt.Errorf("--value-size %d: must be in [0, 64 MiB]", *valueSize)
	case *keySize < len(strconv.FormatInt(*n, 10))+1 || *keySize > 512:
		err = fmt.Errorf("--key-size %d: must be in [%d, 512] for %d keys", *keySize, len(strconv.FormatInt(*n, 10))+1, *n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata bench: %v\n", err)
		return exitUsage
	}
	d, err := db.Open(pos[0], &db.Options{SyncWrites: *syncWrites})
	if err != nil {
		return failed("bench", err, stderr)
	}
	b := &bench{
		d: d, n: *n, keySize: *keySize, valueSize: *valueSize, threads: *threads,
		bar:    !*quiet && isTerminal(stderr),
		stderr: stderr, stdout: stdout,
	}
	b.values = make([]byte, max(1<<20, 2*b.valueSize))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b.values {
		b.values[i] = byte(rng.Uint32())
	}
	fmt.Fprintf(stdout, "strata bench: %s, %d ops per workload, %d-byte keys, %d-byte values, threads %d\n",
		pos[0], b.n, b.keySize, b.valueSize, b.threads)
	for _, w := range names {
		if err = b.run(w); err != nil {
			break
		}
	}
	if err == nil && *stats {
		fmt.Fprint(stdout, d.Metrics())
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failed("bench", err, stderr)
	}
	return exitOK
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// key formats key number k, zero-padded to b.keySize digits.
func (b *bench) key(dst []byte, k int64) []byte {
	dst = slices.Grow(dst[:0], b.keySize)[:b.keySize]
	for i := b.keySize - 1; i >= 0; i-- {
		dst[i] = byte('0' + k%10)
		k /= 10
	}
	return dst
}

// fail records the first error of a workload.
func (b *bench) fail(err error) {
	b.errMu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.errMu.Unlock()
}

// run runs workload w on b.threads goroutines and prints its line.
func (b *bench) run(w string) error {
	b.workload = w
	b.next.Store(0)
	b.done.Store(0)
	b.found.Store(0)
	b.err = nil
	b.latencies = make([][]time.Duration, b.threads)
	var bar *progressbar.ProgressBar
	if b.bar {
		bar = progressbar.NewOptions64(b.n,
			progressbar.OptionSetWriter(b.stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("%-12s", w)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("ops"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	stopBar := make(chan struct{})
	var barDone sync.WaitGroup
	if bar != nil {
		barDone.Add(1)
		go func() {
			defer barDone.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopBar:
					return
				case <-t.C:
					bar.Set64(b.done.Load())
				}
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for t := 0; t < b.threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.thread(t)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopBar)
	barDone.Wait()
	if bar != nil {
		bar.Finish()
	}
	if b.err != nil {
		return fmt.Errorf("%s: %w", w, b.err)
	}
	all := slices.Concat(b.latencies...)
	slices.Sort(all)
	ops := int64(len(all))
	line := fmt.Sprintf("%-12s: %9d ops %9.0f ops/s  p50 %9.2f µs  p99 %9.2f µs", w, ops,
		float64(ops)/elapsed.Seconds(), micros(percentile(all, 0.50)), micros(percentile(all, 0.99)))
	switch w {
	case "fillseq", "fillrandom", "overwrite":
		line += fmt.Sprintf("  %6.1f MB/s", float64(ops)*float64(b.keySize+b.valueSize)/elapsed.Seconds()/1e6)
	case "readrandom", "readmissing", "seekrandom":
		line += fmt.Sprintf("  (%d of %d found)", b.found.Load(), ops)
	}
	fmt.Fprintln(b.stdout, line)
	return nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// percentile returns the p-quantile of sorted durations (0 when empty).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// thread runs operations of the current workload until they are all
// claimed, recording each one's latency.
func (b *bench) thread(t int) {
	rng := rand.New(rand.NewPCG(uint64(t)+1, uint64(len(b.workload))))
	lat := make([]time.Duration, 0, b.n/int64(b.threads)+1)
	defer func() { b.latencies[t] = lat }()
	var kbuf []byte
	var it *db.Iterator
	switch b.workload {
	case "readseq", "readreverse", "seekrandom":
		it = b.d.NewIter(nil)
		defer func() {
			if err := it.Close(); err != nil {
				b.fail(err)
			}
		}()
	}
	random := func() int64 { return rng.Int64N(b.n) }
	for {
		i := b.next.Add(1) - 1
		if i >= b.n {
			return
		}
		var err error
		start := time.Now()
		switch b.workload {
		case "fillseq":
			kbuf = b.key(kbuf, i)
			err = b.d.Put(kbuf, b.value(rng))
		case "fillrandom", "overwrite":
			kbuf = b.key(kbuf, random())
			err = b.d.Put(kbuf, b.value(rng))
		case "deleterandom":
			kbuf = b.key(kbuf, random())
			err = b.d.Delete(kbuf)
		case "readrandom", "readmissing":
			kbuf = b.key(kbuf, random())
			if b.workload == "readmissing" {
				kbuf = append(kbuf, '.')
			}
			_, err = b.d.Get(kbuf)
			if err == nil {
				b.found.Add(1)
			} else if errors.Is(err, db.ErrNotFound) {
				err = nil
			}
		case "seekrandom":
			kbuf = b.key(kbuf, random())
			if it.SeekGE(kbuf) {
				_ = it.Key()
				b.found.Add(1)
			}
		case "readseq", "readreverse":
			move := it.Next
			if b.workload == "readreverse" {
				move = it.Prev
			}
			if !move() {
				return // the end: fewer entries than operations
			}
			_ = it.Value()
		}
		lat = append(lat, time.Since(start))
		b.done.Add(1)
		if err != nil {
			b.fail(err)
			return
		}
	}
}

// value returns a value of b.valueSize random bytes.
func (b *bench) value(rng *rand.Rand) []byte {
	off := rng.IntN(len(b.values) - b.valueSize + 1)
	return b.values[off : off+b.valueSize]
}
