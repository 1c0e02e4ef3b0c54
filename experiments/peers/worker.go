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
	"sync"
	"time"
)

// phaseResult is one timed phase. Ops counts puts, gets, seeks or (for the
// scans) entries; Bytes the user bytes (key + value) written or returned.
type phaseResult struct {
	Name      string  `json:"name"`
	Ops       int64   `json:"ops"`
	Found     int64   `json:"found"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
}

// workerResult is the JSON line a worker prints.
type workerResult struct {
	Engine   string        `json:"engine"`
	Rep      int           `json:"rep"`
	N        int           `json:"n"`
	Settings string        `json:"settings"`
	Phases   []phaseResult `json:"phases"`

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
	// after the close following readseq; LiveBytes is distinct keys × 116.
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
		cfg:    cfg,
		opts:   engineOptions{cacheBytes: cfg.cacheBytes, memBytes: cfg.memBytes, bloomBits: 10},
		stderr: stderr,
		res:    workerResult{Engine: cfg.engine, Rep: cfg.rep, N: cfg.n},
	}
	if cfg.workload == "all" || cfg.workload == "fillseq" {
		if err := w.fillseq(); err != nil {
			return fmt.Errorf("%s fillseq: %w", cfg.engine, err)
		}
	}
	if cfg.workload == "all" || cfg.workload == "main" {
		if err := w.mainSequence(); err != nil {
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
// deletes it.
func (w *worker) fillseq() error {
	dir := filepath.Join(w.cfg.dir, "fillseq")
	e, before, err := w.open(dir)
	if err != nil {
		return err
	}
	vals := newValues(w.cfg.seed, w.cfg.valueRandom)
	var kb [keySize]byte
	err = w.phase("fillseq", func() (int64, int64, int64, error) {
		for i := range w.cfg.n {
			if err := e.put(makeKey(kb[:], uint64(i)), vals.next()); err != nil {
				return int64(i), 0, 0, err
			}
		}
		return int64(w.cfg.n), 0, int64(w.cfg.n) * entrySize, nil
	})
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	after, err := readIO()
	if err != nil {
		return err
	}
	w.res.FillseqWriteAmp, _ = writeAmp(after.sub(before), int64(w.cfg.n)*entrySize)
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
	vals := newValues(w.cfg.seed+1, w.cfg.valueRandom)
	var kb [keySize]byte

	perm := newPermutation(n, w.cfg.seed)
	err = w.phase("fillrandom", func() (int64, int64, int64, error) {
		for i := range n {
			if err := e.put(makeKey(kb[:], perm.at(i)), vals.next()); err != nil {
				return int64(i), 0, 0, err
			}
		}
		return int64(n), 0, int64(n) * entrySize, nil
	})
	if err != nil {
		return err
	}
	err = w.phase("overwrite", func() (int64, int64, int64, error) {
		r := w.rng("overwrite", 0)
		for i := range n {
			if err := e.put(makeKey(kb[:], r.Uint64N(n)), vals.next()); err != nil {
				return int64(i), 0, 0, err
			}
		}
		return int64(n), 0, int64(n) * entrySize, nil
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
	err = w.phase("seeknext100", func() (int64, int64, int64, error) {
		r := w.rng("seeknext100", 0)
		var entries, bytes int64
		for i := range w.cfg.seeks {
			k, b, err := e.seekNext(makeKey(kb[:], r.Uint64N(n)), seekNexts)
			if err != nil {
				return int64(i), entries, bytes, err
			}
			entries += int64(k)
			bytes += b
		}
		if entries < int64(w.cfg.seeks) {
			return 0, 0, 0, fmt.Errorf("seeknext100: %d seeks landed on %d entries", w.cfg.seeks, entries)
		}
		return int64(w.cfg.seeks), entries, bytes, nil
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
	w.res.UserBytesWritten = 2 * int64(n) * entrySize
	w.res.WriteAmp, w.res.WriteAmpSource = writeAmp(w.res.MainIO, w.res.UserBytesWritten)
	w.res.NetWriteAmp = float64(w.res.MainIO.Write-w.res.MainIO.Cancelled) / float64(w.res.UserBytesWritten)
	w.res.WcharWriteAmp = float64(w.res.MainIO.WChar) / float64(w.res.UserBytesWritten)
	if w.res.SpaceBytes, w.res.SpaceApparent, w.res.SpaceByExt, err = diskUsage(dir); err != nil {
		return err
	}
	w.res.LiveBytes = int64(n) * entrySize
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
	return w.phase(name, func() (int64, int64, int64, error) {
		var (
			mu    sync.Mutex
			found int64
			first error
			wg    sync.WaitGroup
		)
		for j := range g {
			ops := w.cfg.reads / g
			if j < w.cfg.reads%g {
				ops++
			}
			r := w.rng(name, j)
			wg.Go(func() {
				var kb [keySize]byte
				var f int64
				var err error
				for range ops {
					var ok bool
					if ok, err = e.get(mk(kb[:], r.Uint64N(n))); err != nil {
						break
					}
					if ok {
						f++
					}
				}
				mu.Lock()
				found += f
				if first == nil {
					first = err
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if first != nil {
			return 0, found, 0, first
		}
		want := int64(0)
		if present {
			want = int64(w.cfg.reads)
		}
		if found != want {
			return 0, found, 0, fmt.Errorf("%s: found %d of %d keys, want %d", name, found, w.cfg.reads, want)
		}
		return int64(w.cfg.reads), found, found * entrySize, nil
	})
}

// readSeq scans everything and checks that it saw every key once.
func (w *worker) readSeq(e engine, name string) error {
	return w.phase(name, func() (int64, int64, int64, error) {
		k, b, err := e.scan()
		if err == nil && k != w.cfg.n {
			err = fmt.Errorf("%s: scanned %d entries, want %d", name, k, w.cfg.n)
		}
		return int64(k), int64(k), b, err
	})
}

// phase times fn, which returns its operation count, the entries found,
// and the user bytes moved, records the result and prints a progress line.
func (w *worker) phase(name string, fn func() (ops, found, bytes int64, err error)) error {
	runtime.GC() // start each phase without the previous phase's garbage
	if name == w.cfg.profilePhase {
		f, err := os.Create(w.cfg.profileOut)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	ops, found, bytes, err := fn()
	secs := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p := phaseResult{Name: name, Ops: ops, Found: found, Bytes: bytes, Seconds: secs,
		OpsPerSec: float64(ops) / secs, MBPerSec: float64(bytes) / secs / 1e6}
	w.res.Phases = append(w.res.Phases, p)
	fmt.Fprintf(w.stderr, "peers: %-9s rep %d %-17s %9d ops %8.2f s %11.0f ops/s %7.1f MB/s\n",
		w.cfg.engine, w.cfg.rep, name, ops, secs, p.OpsPerSec, p.MBPerSec)
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
