package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

// sstPageSize is the page size of the files btree-vs-binary writes.
const sstPageSize = 4096

// errNoSearchMode means the sst package has no ReaderOptions.SearchMode
// field: only the B+Tree (the one search the reader has) can be measured.
var errNoSearchMode = errors.New("sst.ReaderOptions has no SearchMode field")

// setSearchMode sets the SearchMode field of o, a pointer to
// sst.ReaderOptions (or, in tests, to another struct), to the named mode
// ("btree" or "binary").
// The field is found by reflection so that this program builds against a
// library with or without it. A string field takes the mode's name; an
// integer field takes the value whose String method names the mode (it
// contains "tree" or "binary"), else the zero value for "btree" (the
// default search) and binaryValue for "binary".
func setSearchMode(o any, mode string, binaryValue int) error {
	f := reflect.ValueOf(o).Elem().FieldByName("SearchMode")
	if !f.IsValid() {
		if mode == "btree" {
			return nil // the only search there is
		}
		return errNoSearchMode
	}
	switch f.Kind() {
	case reflect.String:
		if mode == "btree" {
			f.SetString("")
		} else {
			f.SetString(mode)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		word := map[string]string{"btree": "tree", "binary": "binary"}[mode]
		v := reflect.New(f.Type()).Elem()
		for i := 0; i < 16; i++ {
			setInt(v, i)
			if strings.Contains(strings.ToLower(safeString(v)), word) {
				f.Set(v)
				return nil
			}
		}
		if mode == "btree" {
			f.Set(reflect.Zero(f.Type()))
		} else {
			setInt(f, binaryValue)
		}
		return nil
	}
	return fmt.Errorf("sst.ReaderOptions.SearchMode has type %s, which this experiment does not know how to set", f.Type())
}

// safeString returns v's String(), or "" if v is no fmt.Stringer or its
// String panics on a value outside its table.
func safeString(v reflect.Value) (s string) {
	st, ok := v.Interface().(fmt.Stringer)
	if !ok {
		return ""
	}
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return st.String()
}

func setInt(v reflect.Value, i int) {
	if v.CanInt() {
		v.SetInt(int64(i))
	} else {
		v.SetUint(uint64(i))
	}
}

// sortedKey writes the key of the i-th entry of a sorted file.
func sortedKey(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf, i)
	binary.BigEndian.PutUint64(buf[8:], mix(i))
	return buf[:keySize]
}

// writeSST writes a file of n entries (no Bloom filter: lookups measure the
// search alone) and returns its properties.
func writeSST(path string, n int64) (sst.Properties, error) {
	f, err := vfs.Default().Create(path)
	if err != nil {
		return sst.Properties{}, err
	}
	w := sst.NewWriter(f, sst.WriterOptions{PageSize: sstPageSize, BloomBitsPerKey: -1, FileName: filepath.Base(path)})
	k := make([]byte, keySize)
	v := make([]byte, valueSize)
	for i := int64(0); i < n; i++ {
		fillValue(v, uint64(i))
		if err := w.Add(base.MakeInternalKey(sortedKey(k, uint64(i)), 1, base.KindSet), v); err != nil {
			f.Close()
			return sst.Properties{}, err
		}
	}
	props, err := w.Finish()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return props, err
}

// runBTreeVsBinary writes, at every step, one SST holding the step's data
// and looks up random present keys through a buffer pool an eighth of the
// file's size, once per search mode: the B+Tree descent (today's reader)
// and binary search over the leaf pages (sst.ReaderOptions.SearchMode,
// when the library has it). Each mode gets a fresh pool, warmed with a
// quarter of a measurement's lookups first.
func runBTreeVsBinary(e *env) error {
	modes := e.cfg.SearchModes
	var probe sst.ReaderOptions
	if err := setSearchMode(&probe, "binary", e.cfg.BinaryModeValue); errors.Is(err, errNoSearchMode) {
		var kept []string
		for _, m := range modes {
			if m != "binary" {
				kept = append(kept, m)
			}
		}
		if len(kept) < len(modes) {
			e.note("%v: the library cannot binary-search leaf pages yet, so only the B+Tree rows are recorded. Re-run -only btree-vs-binary once SearchMode exists.", err)
		}
		modes = kept
	} else if err != nil {
		return err
	}
	if len(modes) == 0 {
		return errors.New("no search mode to measure (-search-modes)")
	}

	t, err := e.newTable(cols([]string{"mode", "step"}, sampleHeader,
		[]string{"file_bytes", "cache_bytes", "leaf_pages", "node_pages", "height", "page_misses_per_lookup", "cache_hit_ratio"})...)
	if err != nil {
		return err
	}
	defer t.close()
	dir, err := e.newDir("sst")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "000001.sst")
	l := newLines()
	misses := newLines()
	for i, size := range e.cfg.steps() {
		n := size / entrySize
		props, err := writeSST(path, n)
		if err != nil {
			return err
		}
		fileBytes := int64(props.Pages) * int64(props.PageSize)
		capacity := max(fileBytes/8, 16*sstPageSize)
		line := ""
		for _, mode := range modes {
			s, missRate, hr, err := e.lookupSST(path, n, capacity, mode, int64(i))
			if err != nil {
				return fmt.Errorf("%s search: %w", mode, err)
			}
			s.dataBytes, s.entries = n*entrySize, n
			if err := t.add(mode, i+1, s.cols(), fileBytes, capacity, props.LeafPages, props.NodePages, props.Height, missRate, hr); err != nil {
				return err
			}
			name := map[string]string{"btree": "B+Tree", "binary": "binary search over leaves"}[mode]
			l.add(name, mibOf(s.dataBytes), s.opsPerSec())
			misses.add(name, mibOf(s.dataBytes), missRate)
			line += fmt.Sprintf(" %s %.0f lookups/s (%.2f page misses each);", mode, s.opsPerSec(), missRate)
		}
		e.progress("%s in %d leaf pages, height %d, pool %s:%s", mib(n*entrySize), props.LeafPages, props.Height, mib(capacity), line)
	}
	title := "SST point lookups, buffer pool = 1/8 of the file"
	if len(modes) == 1 && modes[0] == "btree" && slices.Contains(e.cfg.SearchModes, "binary") {
		title += " (no binary-search mode in this library)"
	}
	p1, err := linePlot(panel{title: title, xLabel: "user data in the SST (MiB)", yLabel: "lookups/s", zeroY: true}, l)
	if err != nil {
		return err
	}
	p2, err := linePlot(panel{title: "Pages loaded per lookup", xLabel: "user data in the SST (MiB)", yLabel: "buffer-pool misses per lookup", zeroY: true}, misses)
	if err != nil {
		return err
	}
	return savePlots(e.pngPath(), 2, p1, p2)
}

// lookupSST opens the file with a new pool of capacity bytes and the given
// search mode, warms the pool, then measures random lookups of present
// keys. It returns the sample, the pool misses per lookup and the hit ratio.
func (e *env) lookupSST(path string, n, capacity int64, mode string, step int64) (sample, float64, float64, error) {
	pool := cache.New(cache.Options{Capacity: capacity, PageSize: sstPageSize})
	opts := sst.ReaderOptions{Cache: pool, FileNum: 1}
	if err := setSearchMode(&opts, mode, e.cfg.BinaryModeValue); err != nil {
		return sample{}, 0, 0, err
	}
	f, err := vfs.Default().Open(path)
	if err != nil {
		return sample{}, 0, 0, err
	}
	r, err := sst.Open(f, opts)
	if err != nil {
		return sample{}, 0, 0, err
	}
	defer r.Close()
	newOp := func(w int) opFunc {
		rng := rand.New(rand.NewSource(e.cfg.Seed + step*7 + int64(w)))
		k := make([]byte, keySize)
		want := make([]byte, valueSize)
		var dst []byte
		return func() (int64, error) {
			id := uint64(rng.Int63n(n))
			v, kind, _, found, err := r.Get(dst[:0], sortedKey(k, id), base.MaxSeqNum)
			if err != nil {
				return 0, err
			}
			fillValue(want, id)
			if !found || kind != base.KindSet || string(v) != string(want) {
				return 0, fmt.Errorf("lookup of entry %d: found=%v, wrong value or kind", id, found)
			}
			dst = v
			return keySize + int64(len(v)), nil
		}
	}
	if _, _, _, err := runOps(1, e.cfg.Measure/4, e.cfg.MaxOps/4+1, newOp); err != nil {
		return sample{}, 0, 0, err
	}
	before := pool.Metrics()
	ops, bytes, secs, err := runOps(1, e.cfg.Measure, e.cfg.MaxOps, newOp)
	if err != nil {
		return sample{}, 0, 0, err
	}
	after := pool.Metrics()
	hits, miss := after.Hits-before.Hits, after.Misses-before.Misses
	hr := 0.0
	if hits+miss > 0 {
		hr = float64(hits) / float64(hits+miss)
	}
	return sample{ops: ops, bytes: bytes, seconds: secs}, float64(miss) / float64(ops), hr, nil
}
