package sst

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// scanFixture writes n entries of 100-byte values (about 33 to a 4 KiB
// leaf) and returns the file's bytes.
func scanFixture(t testing.TB, P, n int) (*memFile, []kv, Properties) {
	t.Helper()
	kvs := make([]kv, n)
	for i := range kvs {
		kvs[i] = kv{ikey(fmt.Sprintf("scan%08d", i), base.SeqNum(i+1), base.KindSet), pattern(100, i)}
	}
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: P, BloomBitsPerKey: 10}, kvs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, kvs, props
}

// scanAll iterates the whole file forward or backward and returns the
// entries it saw, in iteration order.
func scanAll(t *testing.T, r *Reader, forward bool) []kv {
	t.Helper()
	it := r.newIter()
	var out []kv
	ok := it.First()
	if !forward {
		ok = it.Last()
	}
	for ; ok; ok = map[bool]func() bool{true: it.Next, false: it.Prev}[forward]() {
		out = append(out, kv{it.Key().Clone(), bytes.Clone(it.Value())})
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadaheadScan scans a file four times larger than the pool, forward
// and backward, with readahead on (the default, 8 pages) and off, counting
// the reads: with readahead a scan must read at most a quarter as many
// times as it visits leaves, and see exactly the same entries. It scans the
// file in memory and on disk, where runs of pages are read into their
// frames with one vectored read.
func TestReadaheadScan(t *testing.T) {
	const P = 4096
	data, kvs, props := scanFixture(t, P, 10000)
	path := filepath.Join(t.TempDir(), "000009.sst")
	if err := os.WriteFile(path, data.data, 0o644); err != nil {
		t.Fatal(err)
	}
	frames := int(props.LeafPages) / 4
	t.Logf("%d leaf pages, %d node pages, pool of %d frames", props.LeafPages, props.NodePages, frames)
	var want [2][]kv // forward, backward
	for _, onDisk := range []bool{false, true} {
		for _, ra := range []int{-1, 0, 4, 32} {
			for _, forward := range []bool{true, false} {
				f := &recordingFile{File: &memFile{data: data.data}}
				if onDisk {
					df, err := vfs.Default().Open(path)
					if err != nil {
						t.Fatal(err)
					}
					f = &recordingFile{File: df}
				}
				pool := cache.New(cache.Options{Capacity: int64(frames) * P, PageSize: P})
				r, err := Open(withVectors(f), ReaderOptions{Cache: pool, FileNum: 9, Readahead: ra})
				if err != nil {
					t.Fatal(err)
				}
				f.take()
				got := scanAll(t, r, forward)
				reads := len(f.take())
				st := r.Stats()
				r.Close()
				dir := map[bool]int{true: 0, false: 1}[forward]
				if len(got) != len(kvs) {
					t.Fatalf("readahead %d forward=%v: %d entries, want %d", ra, forward, len(got), len(kvs))
				}
				if want[dir] == nil {
					want[dir] = got
				} else {
					for i := range got {
						if base.CompareInternal(got[i].key, want[dir][i].key) != 0 || !bytes.Equal(got[i].value, want[dir][i].value) {
							t.Fatalf("readahead %d forward=%v: entry %d is %s, without readahead %s", ra, forward, i, got[i].key, want[dir][i].key)
						}
					}
				}
				ratio := float64(reads) / float64(props.LeafPages)
				t.Logf("on disk %-5v readahead %2d forward=%-5v: %4d reads for %d leaves (%.3f per leaf), %d runs of %d pages",
					onDisk, ra, forward, reads, props.LeafPages, ratio, st.Prefetches, st.PrefetchedPages)
				switch {
				case ra < 0 && reads < int(props.LeafPages):
					t.Fatalf("without readahead: %d reads for %d leaves", reads, props.LeafPages)
				case ra == 0 && ratio > 0.25:
					t.Fatalf("default readahead: %d reads for %d leaves, want at most a quarter", reads, props.LeafPages)
				case ra > 0 && reads > 2*int(props.LeafPages)/min(ra, frames/4)+rampReads(ra):
					t.Fatalf("readahead %d: %d reads for %d leaves, want at most twice one per %d leaves (+%d while runs grow)",
						ra, reads, props.LeafPages, min(ra, frames/4), rampReads(ra))
				}
				if onDisk && ra >= 0 && f.vectored == 0 {
					t.Fatalf("readahead %d on disk: no run was read with ReadvAt", ra)
				}
				if m := pool.Metrics(); m.Prefetched != st.PrefetchedPages || m.Pinned != 0 {
					t.Fatalf("pool counted %d prefetched pages, reader %d; %d pinned", m.Prefetched, st.PrefetchedPages, m.Pinned)
				}
			}
		}
	}
}

// TestReadaheadCorruptPageOnDisk flips a byte of a leaf in the middle of a
// file on disk: a scan reads that leaf inside a readahead run (one
// vectored read into the frames) and must fail with a corruption error
// that names its page, not return its entries.
func TestReadaheadCorruptPageOnDisk(t *testing.T) {
	const P = 4096
	data, _, props := scanFixture(t, P, 10000)
	bad := bytes.Clone(data.data)
	pn := int(props.LeafPages) / 2
	bad[pn*P+P/2] ^= 0x40
	path := filepath.Join(t.TempDir(), "000009.sst")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	df, err := vfs.Default().Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &recordingFile{File: df}
	pool := cache.New(cache.Options{Capacity: 64 * P, PageSize: P})
	r, err := Open(withVectors(f), ReaderOptions{Cache: pool, FileNum: 9, Readahead: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	it := r.newIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	err = it.Close()
	var ce *base.CorruptionError
	if !errors.As(err, &ce) || ce.Where != fmt.Sprintf("page %d", pn) {
		t.Fatalf("scan over a corrupt leaf %d: %d entries, error %v", pn, n, err)
	}
	if f.vectored == 0 {
		t.Fatal("no run was read with ReadvAt")
	}
}

// TestReadaheadOverflowValue checks that a value spread over many overflow
// pages is read with a few runs rather than a read per page, by Get and by
// an iterator, and comes back intact.
func TestReadaheadOverflowValue(t *testing.T) {
	const P = 1024
	big := pattern(40*P, 1)
	kvs := []kv{
		{ikey("a", 1, base.KindSet), []byte("small")},
		{ikey("b", 2, base.KindSet), big},
		{ikey("c", 3, base.KindSet), pattern(3*P, 2)},
	}
	data := &memFile{}
	if _, err := writeTo(data, WriterOptions{PageSize: P}, kvs, nil); err != nil {
		t.Fatal(err)
	}
	for _, ra := range []int{-1, 0} {
		f := &recordingFile{File: &memFile{data: data.data}}
		pool := cache.New(cache.Options{Capacity: 256 * P, PageSize: P})
		r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 4, Readahead: ra})
		if err != nil {
			t.Fatal(err)
		}
		f.take()
		g, err := r.Get(nil, []byte("b"), base.MaxSeqNum)
		if !g.Found || err != nil || !bytes.Equal(g.Value, big) {
			t.Fatalf("readahead %d: Get = %v, %v, %d bytes", ra, g.Found, err, len(g.Value))
		}
		reads := len(f.take())
		t.Logf("readahead %d: Get of a %d-page value took %d reads", ra, len(big)/(P-8)+1, reads)
		if ra < 0 && reads < 40 || ra >= 0 && reads > 4 {
			t.Fatalf("readahead %d: %d reads", ra, reads)
		}
		pool = cache.New(cache.Options{Capacity: 256 * P, PageSize: P})
		r2, err := Open(&memFile{data: data.data}, ReaderOptions{Cache: pool, FileNum: 5, Readahead: ra})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAll(r2, kvs); err != nil {
			t.Fatalf("readahead %d: %v", ra, err)
		}
		r.Close()
		r2.Close()
	}
}

// TestReadaheadScanResistance runs a full scan with readahead through a
// small 2Q pool while a hot set of keys is read between stretches of the
// scan, each stretch longer than the pool: prefetched pages enter A1in, so
// the hot pages stay in Am and their Gets keep hitting. Under LRU the same
// scan flushes them, which shows the test can fail.
func TestReadaheadScanResistance(t *testing.T) {
	const (
		P      = 4096
		frames = 64
		hotN   = 16
	)
	data, kvs, props := scanFixture(t, P, 30000)
	flood, _, _ := scanFixture(t, P, 7500)
	t.Logf("scanned file: %d leaf pages, %d node pages, height %d", props.LeafPages, props.NodePages, props.Height)
	hot := make([][]byte, hotN)
	for i := range hot {
		hot[i] = kvs[(i*7919+13)%len(kvs)].key.UserKey
	}
	ratios := map[cache.Policy]float64{}
	for _, policy := range []cache.Policy{cache.Policy2Q, cache.PolicyLRU} {
		pool := cache.New(cache.Options{Capacity: frames * P, PageSize: P, Policy: policy, Shards: 4})
		r, err := Open(&memFile{data: data.data}, ReaderOptions{Cache: pool, FileNum: 1})
		if err != nil {
			t.Fatal(err)
		}
		other, err := Open(&memFile{data: flood.data}, ReaderOptions{Cache: pool, FileNum: 2})
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		getHot := func() (hits, misses uint64) {
			before := pool.Metrics()
			for _, k := range hot {
				g, err := r.Get(buf, k, base.MaxSeqNum)
				if !g.Found || err != nil {
					t.Fatalf("Get(%q) = %v, %v", k, g.Found, err)
				}
				buf = g.Value
			}
			after := pool.Metrics()
			return after.Hits - before.Hits, after.Misses - before.Misses
		}
		// Warm up: read the hot set between stretches of a quarter of a
		// pool of other pages. Once the free frames are used up, the
		// stretches push the hot pages out of A1in while their ids are
		// still in A1out, and the next round promotes them to Am.
		it := other.newIter()
		ok := it.First()
		for range 12 {
			getHot()
			for n := 0; ok && n < 33*frames/4; n++ {
				ok = it.Next()
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if h, m := getHot(); m != 0 {
			t.Fatalf("%s: warm-up left %d of %d hot page reads missing", policy, m, h+m)
		}

		// The flood: a full scan with readahead, and a round of hot Gets
		// after every 2*frames leaves.
		var hits, misses uint64
		it = r.newIter()
		leaves := 0
		var last uint32
		for ok := it.First(); ok; ok = it.Next() {
			if pn := it.path[it.height].pn; pn != last {
				last = pn
				leaves++
				if leaves%(2*frames) == 0 {
					h, m := getHot()
					hits, misses = hits+h, misses+m
				}
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		st := r.Stats()
		ratios[policy] = float64(hits) / float64(hits+misses)
		t.Logf("%s: hot-set hit ratio %.3f (%d hits, %d misses) during a scan of %d leaves; %d runs read %d pages ahead",
			policy, ratios[policy], hits, misses, leaves, st.Prefetches, st.PrefetchedPages)
		if st.Prefetches == 0 {
			t.Fatalf("%s: the scan read nothing ahead", policy)
		}
		r.Close()
		other.Close()
	}
	if r := ratios[cache.Policy2Q]; r < 0.95 {
		t.Fatalf("2Q: hot-set hit ratio %.3f during a scan with readahead, want >= 0.95", r)
	}
	if r := ratios[cache.PolicyLRU]; r > ratios[cache.Policy2Q]-0.2 {
		t.Fatalf("LRU: hot-set hit ratio %.3f, not clearly below 2Q's %.3f: the scan does not flood the pool", r, ratios[cache.Policy2Q])
	}
}

// rampReads bounds the reads a scan spends before its readahead runs reach
// full length: the leaves before readaheadAfter, then runs of 2, 4, ... pages.
func rampReads(ra int) int { return readaheadAfter + bits.Len(uint(ra)) }

// TestShortScanReadsNoAhead checks that a seek followed by a short scan
// reads only the leaves it visits, and that a longer scan's runs then grow
// 2, 4, 8 pages long.
func TestShortScanReadsNoAhead(t *testing.T) {
	const P = 4096
	f, kvs, props := scanFixture(t, P, 10000)
	pool := cache.New(cache.Options{Capacity: int64(props.LeafPages+props.NodePages+8) * P, PageSize: P})
	r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	atOpen := r.Stats() // Open reads the Bloom filter's pages as one run
	perLeaf := len(kvs) / int(props.LeafPages)
	it := r.newIter()
	defer it.Close()
	// Seek, then Next across one leaf boundary.
	ok := it.SeekGE(kvs[5000].key.UserKey)
	for i := 0; ok && i < perLeaf*3/4; i++ {
		ok = it.Next()
	}
	if st := r.Stats(); st.Prefetches != atOpen.Prefetches {
		t.Fatalf("a scan into a second leaf after a seek read ahead %d times", st.Prefetches-atOpen.Prefetches)
	}
	// Go on for many leaves: runs of 2, 4, then 8 pages.
	for i := 0; ok && i < 20*perLeaf; i++ {
		ok = it.Next()
	}
	st := r.Stats()
	st.Prefetches -= atOpen.Prefetches
	st.PrefetchedPages -= atOpen.PrefetchedPages
	if st.Prefetches < 3 || st.PrefetchedPages < 2+4+8 {
		t.Fatalf("long scan: %d runs of %d pages", st.Prefetches, st.PrefetchedPages)
	}
	if avg := float64(st.PrefetchedPages) / float64(st.Prefetches); avg >= defaultReadahead {
		t.Fatalf("runs average %.1f pages: the first ones should be shorter than %d", avg, defaultReadahead)
	}
}

// readCounter counts the reads that reach a file, and their bytes.
type readCounter struct {
	*memFile
	reads, bytes int
}

func (c *readCounter) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.bytes += len(p)
	return c.memFile.ReadAt(p, off)
}

// TestScanReadsValuePagesAhead: a scan over values kept in the value
// stream reads the stream ahead, many pages per read, forward and
// backward, instead of a read per value page.
func TestScanReadsValuePagesAhead(t *testing.T) {
	const P = 4096
	var kvs []kv
	for i := 0; i < 4000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%05d", i), 1, base.KindSet), pattern(1000, i)})
	}
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"forward", "backward"} {
		c := &readCounter{memFile: &memFile{data: f.data}}
		r, err := Open(c, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 8 << 20, PageSize: P}), FileNum: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.reads = 0
		it := r.newIter()
		n := 0
		if dir == "forward" {
			for ok := it.First(); ok; ok = it.Next() {
				if !bytes.Equal(it.Value(), kvs[n].value) {
					t.Fatalf("%s: entry %d", dir, n)
				}
				n++
			}
		} else {
			for ok := it.Last(); ok; ok = it.Prev() {
				if !bytes.Equal(it.Value(), kvs[len(kvs)-1-n].value) {
					t.Fatalf("%s: entry %d", dir, n)
				}
				n++
			}
		}
		if err := it.Close(); err != nil || n != len(kvs) {
			t.Fatalf("%s: %d entries, %v", dir, n, err)
		}
		t.Logf("%s scan: %d reads for %d value pages and %d leaves", dir, c.reads, props.ValuePages, props.LeafPages)
		if c.reads*8 > int(props.ValuePages) {
			t.Fatalf("%s scan: %d reads for %d value pages and %d leaves (%+v)", dir, c.reads, props.ValuePages, props.LeafPages, r.Stats())
		}
		r.Close()
	}
}

// TestShortScanReadsLittleAhead: a seek followed by 30 values of 1000
// bytes (YCSB E's scans are 1 to 100 records) reads ahead a small window
// of the value stream first, not 256 KiB, and a long scan still grows to
// large reads.
func TestShortScanReadsLittleAhead(t *testing.T) {
	const P = 4096
	var kvs []kv
	for i := 0; i < 4000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%05d", i), 1, base.KindSet), pattern(1000, i)})
	}
	f := &memFile{}
	if _, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil); err != nil {
		t.Fatal(err)
	}
	pool := cache.New(cache.Options{Capacity: 8 << 20, PageSize: P})
	r, err := Open(&memFile{data: f.data}, ReaderOptions{Cache: pool, FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	it := r.newIter()
	defer it.Close()
	n := 0
	for ok := it.SeekGE([]byte("k02000")); ok && n < 30; ok = it.Next() {
		if !bytes.Equal(it.Value(), kvs[2000+n].value) {
			t.Fatalf("entry %d", n)
		}
		n++
	}
	// 30 values are about 8 value pages; the first readahead is 8 more.
	if read := pool.Metrics().BytesRead / P; read > 24 {
		t.Fatalf("a scan of 30 values of 1000 bytes read %d pages", read)
	}
}

// TestMergeScanReadsEachPageOnce: a merge's ScanIter over values of 16
// pages each reads the leaves and the value stream with a cursor each, so
// every page of the leaf section is read once, in few large reads.
func TestMergeScanReadsEachPageOnce(t *testing.T) {
	const P = 4096
	var kvs []kv
	for i := 0; i < 300; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%05d", i), 1, base.KindSet), pattern(64<<10, i)})
	}
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &readCounter{memFile: &memFile{data: f.data}}
	r, err := Open(c, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 1 << 20, PageSize: P}), FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.reads, c.bytes = 0, 0
	if err := checkScan(r, kvs, defaultScanChunk); err != nil {
		t.Fatal(err)
	}
	section := int(props.LeafPages+props.ValuePages) * P
	t.Logf("%d reads of %d bytes for a leaf section of %d bytes (%d value pages)", c.reads, c.bytes, section, props.ValuePages)
	if c.bytes > section*11/10 || c.reads > section/(defaultScanChunk/4) {
		t.Fatalf("%d reads of %d bytes for a leaf section of %d bytes", c.reads, c.bytes, section)
	}
}

// TestScanReadsLargeValuesAroundPool: a scan over values of 16 pages
// reads each with one read around the pool, forward and backward, and
// leaves the pool's frames to the leaves.
func TestScanReadsLargeValuesAroundPool(t *testing.T) {
	const P = 4096
	var kvs []kv
	for i := 0; i < 200; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%05d", i), 1, base.KindSet), pattern(64<<10, i)})
	}
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := cache.New(cache.Options{Capacity: 8 << 20, PageSize: P})
	c := &readCounter{memFile: &memFile{data: f.data}}
	r, err := Open(c, ReaderOptions{Cache: pool, FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.reads = 0
	it := r.newIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.Equal(it.Value(), kvs[n].value) {
			t.Fatalf("forward: value %d", n)
		}
		n++
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		n--
		if !bytes.Equal(it.Value(), kvs[n].value) {
			t.Fatalf("backward: value %d", n)
		}
	}
	if err := it.Close(); err != nil || n != 0 {
		t.Fatalf("scans ended at %d: %v", n, err)
	}
	// The leaves' readahead may bring a few value pages lying between
	// leaves; the values themselves stay out.
	if cached := pool.Metrics().BytesRead / P; cached > uint64(props.ValuePages)/20 {
		t.Fatalf("scans over %d value pages cached %d pages", props.ValuePages, cached)
	}
	if c.reads > 2*len(kvs)+int(props.LeafPages)*2+8 {
		t.Fatalf("two scans of %d values took %d reads", len(kvs), c.reads)
	}
}
