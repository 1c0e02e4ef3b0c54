package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config holds the sizes and durations every experiment scales by.
type config struct {
	Name string // "quick", "full" or "tiny" (tests)
	// Final is the user data (keys + values) each growing database reaches;
	// Step is the data added between two samples.
	Final, Step int64
	// Memtable and Cache are Options.MemtableSize and Options.CacheSize.
	// Cache is below Final so that reads go to the SSTs.
	Memtable, Cache int64
	// Measure is how long one read measurement runs (it also stops after
	// MaxOps operations).
	Measure time.Duration
	MaxOps  int64
	// Settle is how long the background work must stay idle before a read
	// measurement (at most SettleMax is spent waiting).
	Settle, SettleMax time.Duration
	// SyncRun is how long each durability configuration writes.
	SyncRun time.Duration

	SearchModes []string
	Bits        float64
	Seed        int64
}

func fullConfig() config {
	return config{Name: "full", Final: 1 << 30, Step: 16 << 20, Memtable: 4 << 20, Cache: 64 << 20,
		Measure: time.Second, MaxOps: 1 << 40, Settle: time.Second, SettleMax: 30 * time.Second,
		SyncRun: 10 * time.Second, Bits: 10, Seed: 1, SearchModes: []string{"btree", "binary"}}
}

func quickConfig() config {
	return config{Name: "quick", Final: 48 << 20, Step: 8 << 20, Memtable: 1 << 20, Cache: 8 << 20,
		Measure: 250 * time.Millisecond, MaxOps: 1 << 40, Settle: 200 * time.Millisecond, SettleMax: 2 * time.Second,
		SyncRun: time.Second, Bits: 10, Seed: 1, SearchModes: []string{"btree", "binary"}}
}

// tinyConfig is for the smoke test: every experiment in a few seconds.
func tinyConfig() config {
	return config{Name: "tiny", Final: 1 << 20, Step: 512 << 10, Memtable: 128 << 10, Cache: 256 << 10,
		Measure: 20 * time.Millisecond, MaxOps: 2000, Settle: 20 * time.Millisecond, SettleMax: 200 * time.Millisecond,
		SyncRun: 100 * time.Millisecond, Bits: 10, Seed: 1, SearchModes: []string{"btree", "binary"}}
}

func (c config) validate() error {
	switch {
	case c.Step <= 0 || c.Final < c.Step:
		return fmt.Errorf("step %d and size %d: need 0 < step <= size", c.Step, c.Final)
	case c.Final/entrySize < 1000:
		return fmt.Errorf("size %d: too small (at least %d bytes)", c.Final, 1000*entrySize)
	}
	for _, m := range c.SearchModes {
		if m != "btree" && m != "binary" {
			return fmt.Errorf("-search-modes: unknown mode %q (btree, binary)", m)
		}
	}
	return nil
}

func (c config) String() string {
	return fmt.Sprintf("%s config: grow to %s in %s steps, memtable %s, cache %s, %s per read measurement",
		c.Name, mib(c.Final), mib(c.Step), mib(c.Memtable), mib(c.Cache), c.Measure)
}

// steps returns the data sizes at which samples are taken.
func (c config) steps() []int64 {
	var s []int64
	for b := c.Step; b < c.Final; b += c.Step {
		s = append(s, b)
	}
	return append(s, c.Final)
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.4g MiB", float64(b)/(1<<20)) }

// parseSize parses "48MiB", "1GiB", "512KiB" or a plain byte count.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// scratchRoot creates the directory the experiments' databases live under
// and returns it with a function that removes it. The databases must be on
// a real disk (fsync and page-cache behaviour are part of what is
// measured), so a tmpfs temp dir is passed over for a directory beside out.
func scratchRoot(tmp, out string) (string, func(), error) {
	if tmp == "" {
		tmp = os.TempDir()
		if onTmpfs(tmp) {
			abs, err := filepath.Abs(out)
			if err != nil {
				return "", nil, err
			}
			tmp = filepath.Dir(abs)
			fmt.Fprintf(os.Stderr, "suite: %s is a tmpfs; databases go under %s instead\n", os.TempDir(), tmp)
		}
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", nil, err
	}
	root, err := os.MkdirTemp(tmp, "strata-experiments-")
	if err != nil {
		return "", nil, err
	}
	return root, func() { removeAll(root) }, nil
}

// removeAll removes dir, retrying for a moment: on an interrupt a
// database's background flush may still be creating files in it.
func removeAll(dir string) {
	for i := 0; i < 50; i++ {
		if err := os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// env is what one experiment runs with.
type env struct {
	cfg  config
	name string
	out  string // directory of the CSV and PNG
	tmp  string // scratch root
	seq  int
}

func (e *env) csvPath() string { return filepath.Join(e.out, e.name+".csv") }
func (e *env) pngPath() string { return filepath.Join(e.out, e.name+".png") }

// progress prints one line to stderr, prefixed with the experiment's name.
func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", e.name, fmt.Sprintf(format, args...))
}

// note prints a line that must not be missed.
func (e *env) note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] NOTE: %s\n", e.name, fmt.Sprintf(format, args...))
}

// newDir returns a new empty directory under the scratch root.
func (e *env) newDir(label string) (string, error) {
	e.seq++
	dir := filepath.Join(e.tmp, fmt.Sprintf("%s-%s-%d", e.name, label, e.seq))
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}
