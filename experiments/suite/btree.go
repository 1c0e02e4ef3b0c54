package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

// sstPageSize is the page size of the files btree-vs-binary writes.
const sstPageSize = 4096

// searchModes are the sst search modes the experiment compares, by the
// names its CSV and flags use.
var searchModes = map[string]sst.SearchMode{"btree": sst.SearchBTree, "binary": sst.SearchLeafBinary}

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
// and binary search over the leaf pages (sst.ReaderOptions.SearchMode).
// Each mode gets a fresh pool, warmed with a quarter of a measurement's
// lookups first.
func runBTreeVsBinary(e *env) error {
	modes := e.cfg.SearchModes
	for _, m := range modes {
		if _, ok := searchModes[m]; !ok {
			return fmt.Errorf("unknown search mode %q (-search-modes: btree, binary)", m)
		}
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
	opts := sst.ReaderOptions{Cache: pool, FileNum: 1, SearchMode: searchModes[mode]}
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
			g, err := r.Get(dst[:0], sortedKey(k, id), base.MaxSeqNum)
			if err != nil {
				return 0, err
			}
			fillValue(want, id)
			if !g.Found || g.Kind != base.KindSet || string(g.Value) != string(want) {
				return 0, fmt.Errorf("lookup of entry %d: found=%v, wrong value or kind", id, g.Found)
			}
			dst = g.Value
			return keySize + int64(len(g.Value)), nil
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
