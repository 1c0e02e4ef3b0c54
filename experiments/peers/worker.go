package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"time"
)

// phaseResult is one timed phase. Ops counts puts, gets, seeks, YCSB
// operations or (for the scans) entries; Bytes the user bytes (key +
// value) written or returned.
type phaseResult struct {
	Name      string  `json:"name"`
	Ops       int64   `json:"ops"`
	Found     int64   `json:"found"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	// Latency is the distribution of single operations (a put, a get, a
	// seek with its Nexts, a YCSB operation); nil for the scans.
	Latency *latencySummary `json:"latency,omitempty"`
	// ByOp splits a YCSB phase's latencies by operation type (read,
	// update, insert, scan, rmw).
	ByOp map[string]*latencySummary `json:"by_op,omitempty"`
}

// workerResult is the JSON line a worker prints.
type workerResult struct {
	Engine      string        `json:"engine"`
	Rep         int           `json:"rep"`
	N           int           `json:"n"`
	ValueSize   int           `json:"value_size"`
	ValueRandom float64       `json:"value_random"`
	Settings    string        `json:"settings"`
	Phases      []phaseResult `json:"phases"`

	// MainIO is the process's I/O from the start of fillrandom to the
	// close after readseq; UserBytesWritten the key and value bytes put in
	// that window (fillrandom + overwrite).
	MainIO           ioCounters `json:"main_io"`
	UserBytesWritten int64      `json:"user_bytes_written"`
	// WriteAmp is write_bytes / UserBytesWritten, or wchar /
	// UserBytesWritten when the kernel reports no write_bytes
	// (WriteAmpSource says which). write_bytes is charged when a page is
	// dirtied, whether or not it reaches the disk before its file is
	// deleted; NetWriteAmp subtracts cancelled_write_bytes (dirty pages of
	// files deleted or truncated before writeback), which favours engines
	// that delete their WAL before the kernel writes it back and so depends
	// on fsync policy; WcharWriteAmp counts the bytes passed to write calls
	// (not stores into memory-mapped files).
	WriteAmp       float64 `json:"write_amp"`
	WriteAmpSource string  `json:"write_amp_source"`
	NetWriteAmp    float64 `json:"net_write_amp"`
	WcharWriteAmp  float64 `json:"wchar_write_amp"`
	// FillseqWriteAmp is the same ratio for fillseq and its close.
	FillseqWriteAmp float64 `json:"fillseq_write_amp"`

	// SpaceBytes is the disk space (allocated blocks) of the main database
	// after the close following readseq; LiveBytes is distinct keys × (16 +
	// value size).
	SpaceBytes    int64 `json:"space_bytes"`
	SpaceApparent int64 `json:"space_apparent_bytes"`
	// SpaceByExt splits SpaceBytes by file extension ("(none)" for files
	// without one, such as MANIFEST-000001 or LOCK).
	SpaceByExt map[string]int64 `json:"space_by_ext"`
	LiveBytes  int64            `json:"live_bytes"`
	SpaceAmp   float64          `json:"space_amp"`

	// SpaceAmpFinal is the same ratio after the last close, once the
	// reopen has replayed (and Pebble and goleveldb have flushed) what the
	// logs held at the first close.
	SpaceBytesFinal int64   `json:"space_bytes_final"`
	SpaceAmpFinal   float64 `json:"space_amp_final"`

	ReopenMs float64 `json:"reopen_ms"`
	// PeakRSS is VmHWM at the end of the worker: the whole sequence.
	PeakRSS int64 `json:"peak_rss"`
}

type worker struct {
	cfg    *config
	opts   engineOptions
	stderr io.Writer
	res    workerResult
}

func runWorker(cfg *config, stdout, stderr io.Writer) error {
	if cfg.dir == "" {
		return fmt.Errorf("-worker needs -dir")
	}
	w := &worker{
		cfg: cfg,
		opts: engineOptions{cacheBytes: cfg.cacheBytes, memBytes: cfg.memBytes, bloomBits: 10,
			valueSize: cfg.valueSize, strataWriteBehind: cfg.strataWriteBehind},
		stderr: stderr,
		res: workerResult{Engine: cfg.engine, Rep: cfg.rep, N: cfg.n,
			ValueSize: cfg.valueSize, ValueRandom: cfg.valueRandom},
	}
	if cfg.runs("fillseq") {
		if err := w.fillseq(); err != nil {
			return fmt.Errorf("%s fillseq: %w", cfg.engine, err)
		}
	}
	if cfg.runs("sync") {
		if err := w.fillSync("fillsync1", 1); err != nil {
			return fmt.Errorf("%s: %w", cfg.engine, err)
		}
		if err := w.fillSync("fillsync16", syncWriters); err != nil {
			return fmt.Errorf("%s: %w", cfg.engine, err)
		}
	}
	if cfg.runs("main") {
		if err := w.mainSequence(); err != nil {
			return fmt.Errorf("%s: %w", cfg.engine, err)
		}
	}
	if cfg.runs("ycsb") {
		w.res.N = cfg.ycsbRecords
		if err := w.ycsb(); err != nil {
			return fmt.Errorf("%s: %w", cfg.engine, err)
		}
	}
	rss, err := peakRSS()
	if err != nil {
		return err
	}
	w.res.PeakRSS = rss
	return json.NewEncoder(stdout).Encode(&w.res)
}

// fillseq writes N keys in order into a database of its own, closes and
// deletes it, -fillseq-rounds times, each into a fresh database. A round
// of a million small puts lasts about a second, too short for one sample
// to say much on a shared machine, so the phase reports the puts of every
// round over the rounds' summed fill time (opens and closes untimed) and
// their latencies merged. Write amplification is the first round's.
func (w *worker) fillseq() error {
	return w.phase("fillseq", func() (outcome, error) {
		var total outcome
		for r := range w.cfg.fillseqRounds {
			out, err := w.fillseqRound(r)
			total.add(out)
			total.seconds += out.seconds
			if err != nil {
				return total, err
			}
		}
		return total, nil
	})
}

// fillseqRound runs round r of fillseq; its outcome's seconds are the
// fill's alone.
func (w *worker) fillseqRound(r int) (outcome, error) {
	dir := filepath.Join(w.cfg.dir, fmt.Sprintf("fillseq-%d", r))
	e, before, err := w.open(dir)
	if err != nil {
		return outcome{}, err
	}
	vals := newValues(w.cfg.seed, w.cfg.valueRandom, w.cfg.valueSize)
	start := time.Now()
	out, err := w.fill(e, uint64(w.cfg.n), func(i uint64) uint64 { return i }, vals, 0)
	out.seconds = time.Since(start).Seconds()
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	if r == 0 {
		after, err := readIO()
		if err != nil {
			return out, err
		}
		w.res.FillseqWriteAmp, _ = writeAmp(after.sub(before), int64(w.cfg.n)*w.cfg.entrySize())
	}
	return out, os.RemoveAll(dir)
}

// fill puts n keys, the i-th of index key(i) with value vals.at(first+i),
// timing each put.
func (w *worker) fill(e engine, n uint64, key func(uint64) uint64, vals *values, first uint64) (outcome, error) {
	var kb [keySize]byte
	lat := newLatencies()
	for i := range n {
		k, v := makeKey(kb[:], key(i)), vals.at(first+i)
		t := lat.start()
		err := e.put(k, v)
		lat.stop(t)
		if err != nil {
			return outcome{ops: int64(i), lat: lat}, err
		}
	}
	return outcome{ops: int64(n), bytes: int64(n) * w.cfg.entrySize(), lat: lat}, nil
}

// fillSync puts -sync-ops keys in a pseudo-random order from g goroutines
// into a fresh database opened in the engine's synced-write mode, then
// closes and deletes it.
func (w *worker) fillSync(name string, g int) error {
	dir := filepath.Join(w.cfg.dir, name)
	opts := w.opts
	opts.syncWrites = true
	e, err := openEngine(w.cfg.engine, dir, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ops := w.cfg.syncOps
	perm := newPermutation(uint64(ops), w.cfg.seed)
	vals := newValues(w.cfg.seed+2, w.cfg.valueRandom, w.cfg.valueSize)
	err = w.phase(name, func() (outcome, error) {
		return fanOut(g, ops, func(j, share int) (outcome, error) {
			// Goroutine j writes the indexes j, j+g, j+2g, ...
			return w.fill(e, uint64(share), func(k uint64) uint64 { return perm.at(uint64(j) + k*uint64(g)) },
				vals, uint64(j)*uint64(ops))
		})
	})
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// open opens the engine on a new database in dir, recording its settings,
// and returns it with the process's I/O counters from just before.
func (w *worker) open(dir string) (engine, ioCounters, error) {
	before, err := readIO()
	if err != nil {
		return nil, ioCounters{}, err
	}
	e, err := openEngine(w.cfg.engine, dir, w.opts)
	if err != nil {
		return nil, ioCounters{}, err
	}
	w.res.Settings = e.describe()
	return e, before, nil
}

// mainSequence is steps 2-4 of the package comment.
func (w *worker) mainSequence() error {
	dir := filepath.Join(w.cfg.dir, "main")
	n := uint64(w.cfg.n)
	e, before, err := w.open(dir)
	if err != nil {
		return err
	}
	defer func() {
		if e != nil {
			e.close()
		}
	}()
	vals := newValues(w.cfg.seed+1, w.cfg.valueRandom, w.cfg.valueSize)
	perm := newPermutation(n, w.cfg.seed)
	err = w.phase("fillrandom", func() (outcome, error) {
		return w.fill(e, n, perm.at, vals, 0)
	})
	if err != nil {
		return err
	}
	err = w.phase("overwrite", func() (outcome, error) {
		r := w.rng("overwrite", 0)
		return w.fill(e, n, func(uint64) uint64 { return r.Uint64N(n) }, vals, n)
	})
	if err != nil {
		return err
	}
	if err := w.readRandom(e, "readrandom", 1, makeKey, true); err != nil {
		return err
	}
	if err := w.readRandom(e, "readmissing", 1, missingKey, false); err != nil {
		return err
	}
	if err := w.readRandom(e, "readrandom4", readers, makeKey, true); err != nil {
		return err
	}
	err = w.phase("seeknext100", func() (outcome, error) {
		r := w.rng("seeknext100", 0)
		var kb [keySize]byte
		out := outcome{lat: newLatencies()}
		for range w.cfg.seeks {
			key := makeKey(kb[:], r.Uint64N(n))
			t := out.lat.start()
			k, b, err := e.seekNext(key, seekNexts)
			out.lat.stop(t)
			if err != nil {
				return out, err
			}
			out.ops++
			out.found += int64(k)
			out.bytes += b
		}
		if out.found < int64(w.cfg.seeks) {
			return out, fmt.Errorf("seeknext100: %d seeks landed on %d entries", w.cfg.seeks, out.found)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	if err := w.readSeq(e, "readseq"); err != nil {
		return err
	}
	if s, ok := e.(interface{ stats() string }); ok {
		fmt.Fprintf(w.stderr, "peers: %s rep %d internal stats before close:\n%s\n", w.cfg.engine, w.cfg.rep, s.stats())
	}
	err = e.close()
	e = nil
	if err != nil {
		return err
	}

	after, err := readIO()
	if err != nil {
		return err
	}
	w.res.MainIO = after.sub(before)
	w.res.UserBytesWritten = 2 * int64(n) * w.cfg.entrySize()
	w.res.WriteAmp, w.res.WriteAmpSource = writeAmp(w.res.MainIO, w.res.UserBytesWritten)
	w.res.NetWriteAmp = float64(w.res.MainIO.Write-w.res.MainIO.Cancelled) / float64(w.res.UserBytesWritten)
	w.res.WcharWriteAmp = float64(w.res.MainIO.WChar) / float64(w.res.UserBytesWritten)
	if w.res.SpaceBytes, w.res.SpaceApparent, w.res.SpaceByExt, err = diskUsage(dir); err != nil {
		return err
	}
	w.res.LiveBytes = int64(n) * w.cfg.entrySize()
	w.res.SpaceAmp = float64(w.res.SpaceBytes) / float64(w.res.LiveBytes)

	start := time.Now()
	if e, err = openEngine(w.cfg.engine, dir, w.opts); err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	w.res.ReopenMs = float64(time.Since(start).Microseconds()) / 1000
	fmt.Fprintf(w.stderr, "peers: %-9s rep %d %-17s %8.1f ms\n", w.cfg.engine, w.cfg.rep, "reopen", w.res.ReopenMs)
	if err := w.readRandom(e, "readrandom-reopen", 1, makeKey, true); err != nil {
		return err
	}
	if err := w.readSeq(e, "readseq-reopen"); err != nil {
		return err
	}
	if s, ok := e.(interface{ stats() string }); ok {
		fmt.Fprintf(w.stderr, "peers: %s rep %d internal stats after the reads that follow the reopen:\n%s\n", w.cfg.engine, w.cfg.rep, s.stats())
	}
	err = e.close()
	e = nil
	if err != nil {
		return err
	}
	if w.res.SpaceBytesFinal, _, _, err = diskUsage(dir); err != nil {
		return err
	}
	w.res.SpaceAmpFinal = float64(w.res.SpaceBytesFinal) / float64(w.res.LiveBytes)
	return nil
}

// readRandom runs cfg.reads gets split over g goroutines, of keys made by
// mk from uniformly drawn indexes, and checks that all (present) or none
// were found.
func (w *worker) readRandom(e engine, name string, g int, mk func([]byte, uint64) []byte, present bool) error {
	n := uint64(w.cfg.n)
	return w.phase(name, func() (outcome, error) {
		out, err := fanOut(g, w.cfg.reads, func(j, ops int) (outcome, error) {
			r := w.rng(name, j)
			var kb [keySize]byte
			o := outcome{lat: newLatencies()}
			for range ops {
				key := mk(kb[:], r.Uint64N(n))
				t := o.lat.start()
				ok, err := e.get(key)
				o.lat.stop(t)
				if err != nil {
					return o, err
				}
				o.ops++
				if ok {
					o.found++
				}
			}
			o.bytes = o.found * w.cfg.entrySize()
			return o, nil
		})
		if err != nil {
			return out, err
		}
		want := int64(0)
		if present {
			want = int64(w.cfg.reads)
		}
		if out.found != want {
			return out, fmt.Errorf("%s: found %d of %d keys, want %d", name, out.found, w.cfg.reads, want)
		}
		return out, nil
	})
}

// readSeq scans everything and checks that it saw every key once.
func (w *worker) readSeq(e engine, name string) error {
	return w.phase(name, func() (outcome, error) {
		k, b, err := e.scan()
		if err == nil && k != w.cfg.n {
			err = fmt.Errorf("%s: scanned %d entries, want %d", name, k, w.cfg.n)
		}
		return outcome{ops: int64(k), found: int64(k), bytes: b}, err
	})
}

// outcome is what a phase's body returns: its operation count, the
// entries found, the user bytes moved and, where it timed single
// operations, their latencies (in all and, for YCSB, by operation type).
type outcome struct {
	ops, found, bytes int64
	lat               *latencies
	byOp              map[string]*latencies
	// seconds, when positive, is the phase's timed part; otherwise the
	// phase times the whole of its function.
	seconds float64
}

// add merges o into out.
func (out *outcome) add(o outcome) {
	out.ops += o.ops
	out.found += o.found
	out.bytes += o.bytes
	if o.lat != nil {
		if out.lat == nil {
			out.lat = newLatencies()
		}
		out.lat.merge(o.lat)
	}
	for op, l := range o.byOp {
		if out.byOp == nil {
			out.byOp = make(map[string]*latencies)
		}
		if out.byOp[op] == nil {
			out.byOp[op] = newLatencies()
		}
		out.byOp[op].merge(l)
	}
}

// fanOut runs body on g goroutines, the j-th with its share of total
// operations (total/g, the first total%g goroutines one more), and returns
// their merged outcomes and the first error.
func fanOut(g, total int, body func(j, share int) (outcome, error)) (outcome, error) {
	outs := make([]outcome, g)
	errs := make([]error, g)
	var wg sync.WaitGroup
	for j := range g {
		share := total / g
		if j < total%g {
			share++
		}
		wg.Go(func() { outs[j], errs[j] = body(j, share) })
	}
	wg.Wait()
	var sum outcome
	for j := range g {
		sum.add(outs[j])
	}
	for _, err := range errs {
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// phase times fn, records its outcome and prints a progress line.
func (w *worker) phase(name string, fn func() (outcome, error)) error {
	runtime.GC() // start each phase without the previous phase's garbage
	if name == w.cfg.profilePhase {
		f, err := os.Create(w.cfg.profileOut)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer f.Close()
		if strings.HasSuffix(w.cfg.profileOut, ".trace") {
			if err := trace.Start(f); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
			defer trace.Stop()
		} else {
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("profile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
	}
	start := time.Now()
	out, err := fn()
	secs := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if out.seconds > 0 {
		secs = out.seconds
	}
	p := phaseResult{Name: name, Ops: out.ops, Found: out.found, Bytes: out.bytes, Seconds: secs,
		OpsPerSec: float64(out.ops) / secs, MBPerSec: float64(out.bytes) / secs / 1e6}
	p99 := ""
	if out.lat != nil {
		p.Latency = out.lat.summary()
		p99 = fmt.Sprintf(" p99 %9.1f µs", p.Latency.P99)
	}
	for op, l := range out.byOp {
		if p.ByOp == nil {
			p.ByOp = make(map[string]*latencySummary)
		}
		p.ByOp[op] = l.summary()
	}
	w.res.Phases = append(w.res.Phases, p)
	fmt.Fprintf(w.stderr, "peers: %-9s rep %d %-17s %9d ops %8.2f s %11.0f ops/s %7.1f MB/s%s\n",
		w.cfg.engine, w.cfg.rep, name, out.ops, secs, p.OpsPerSec, p.MBPerSec, p99)
	return nil
}

// rng returns the generator of one phase (and goroutine): the same
// sequence for every engine.
func (w *worker) rng(phase string, stream int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(phase))
	return rand.New(rand.NewPCG(w.cfg.seed, h.Sum64()+uint64(stream)))
}

func writeAmp(c ioCounters, user int64) (float64, string) {
	if c.Write > 0 {
		return float64(c.Write) / float64(user), "write_bytes"
	}
	return float64(c.WChar) / float64(user), "wchar"
}
