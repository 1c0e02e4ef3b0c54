package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

func TestPageChecksumIsCRC32COfCoveredBytes(t *testing.T) {
	page := pattern(1024, 7)
	var pn [4]byte
	binary.LittleEndian.PutUint32(pn[:], 0x01020304)
	covered := append(append(append([]byte(nil), page[:4]...), page[8:]...), pn[:]...)
	want := crc32.Checksum(covered, crc32.MakeTable(crc32.Castagnoli))
	if got := pageChecksum(page, 0x01020304); got != want {
		t.Fatalf("pageChecksum = %#x, want %#x", got, want)
	}
}

func TestMaxKeySize(t *testing.T) {
	if got := MaxKeySize(4096); got != 992 {
		t.Fatalf("MaxKeySize(4096) = %d, want 992", got)
	}
	for p := MinPageSize; p <= MaxPageSize; p *= 2 {
		k := maxEncodedKey(p)
		node := uvarintLen(uint64(k)) + k + 4 + slotSize
		if 4*node > p-pageHeaderSize {
			t.Errorf("P=%d: 4 node entries of %d bytes do not fit", p, node)
		}
		// A leaf holds 4 entries of the largest key with the largest
		// trailer and value field, and either a value-stream reference
		// or an inline value of up to maxAlwaysInline bytes.
		uk := MaxKeySize(p)
		tail := max(uvarintLen(math.MaxUint64), maxAlwaysInline)
		leafMax := uvarintLen(uint64(uk)) + uk + uvarintLen(math.MaxUint64) + uvarintLen(maxValueSize<<2|3) + tail + slotSize
		if 4*leafMax > p-pageHeaderSize-2 {
			t.Errorf("P=%d: 4 leaf entries of %d bytes do not fit", p, leafMax)
		}
		if metaKeysOff+2*(2+k) > p {
			t.Errorf("P=%d: metadata does not hold two keys", p)
		}
	}
}

// TestLeafEntryExample checks the worked example of the package comment.
func TestLeafEntryExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024}, []kv{{ikey("a", 5, base.KindSet), []byte("xy")}}, nil)
	f, err := vfs.Default().Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 1024)
	if _, err := f.ReadAt(page, 1024); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x81, 0x0a, 0x08, 0x78, 0x79}
	if !bytes.Equal(page[:4], []byte{1, 7, 1, 0}) || !bytes.Equal(page[8:13], []byte{0xfa, 0x03, 0x01, 0x00, 'a'}) || !bytes.Equal(page[1018:], want) {
		t.Fatalf("leaf page differs from the documented example:\n% x\n% x", page[:13], page[1018:])
	}
}

// TestCompressedEntryExample checks the package comment's compressed value:
// its stored bytes, and that Get and an iterator return the original.
func TestCompressedEntryExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "000001.sst")
	value := bytes.Repeat([]byte("abcdefgh"), 5)
	writeTable(t, path, WriterOptions{PageSize: 1024, Compression: SnappyCompression}, []kv{{ikey("a", 5, base.KindSet), value}}, nil)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := raw[1024:2048]
	want := []byte{0x00, 0x81, 0x0a, 0x36,
		0x28, 0x1c, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x7e, 0x08, 0x00}
	if !bytes.Equal(page[1024-len(want):], want) {
		t.Fatalf("compressed entry differs from the documented example:\n% x", page[1024-len(want):])
	}
	r, _ := openTable(t, path, 1024, 1)
	defer r.Close()
	g, err := r.Get(nil, []byte("a"), base.MaxSeqNum)
	if err != nil || !g.Found || !bytes.Equal(g.Value, value) {
		t.Fatalf("Get = %q, %v, %v; want %q", g.Value, g.Found, err, value)
	}
	it := r.newIter()
	if !it.First() || !bytes.Equal(it.Value(), value) {
		t.Fatalf("iterator value %q, want %q (err %v)", it.Value(), value, it.Error())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for _, withRD := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("%v.sst", withRD))
		var rds []rd
		if withRD {
			rds = []rd{{[]byte("m"), []byte("z"), 9}, {[]byte("a"), []byte("c"), 4}, {[]byte("a"), []byte("b"), 7}, {[]byte("a"), []byte("d"), 4}}
		}
		props := writeTable(t, path, WriterOptions{BloomBitsPerKey: 10}, nil, rds)
		if props.Entries != 0 || props.LeafPages != 0 || props.BloomPages != 0 || props.Height != 0 {
			t.Fatalf("props = %+v", props)
		}
		r, pool := openTable(t, path, defaultPageSize, 1)
		if withRD {
			want := []RangeDel{{[]byte("a"), []byte("b"), 7}, {[]byte("a"), []byte("d"), 4}, {[]byte("m"), []byte("z"), 9}}
			got := r.RangeDels()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("RangeDels = %v, want %v", got, want)
			}
			if p := r.Properties(); p.RangeDels != 3 || p.SmallestSeq != 4 || p.LargestSeq != 9 || p.Pages != 2 {
				t.Fatalf("props = %+v", p)
			}
		} else if len(r.RangeDels()) != 0 || r.Properties().Pages != 1 {
			t.Fatalf("empty file: %v %+v", r.RangeDels(), r.Properties())
		}
		if g, err := r.Get(nil, []byte("a"), base.MaxSeqNum); g.Found || err != nil {
			t.Fatalf("Get in empty file: %v %v", g.Found, err)
		}
		if r.mayContain([]byte("a")) {
			t.Fatal("MayContain in a file without points")
		}
		it := r.newIter()
		if it.First() || it.Last() || it.SeekGE([]byte("a")) || it.SeekLT([]byte("z")) || it.Next() || it.Prev() {
			t.Fatal("iterator over an empty file found an entry")
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if err := checkAll(r, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d pages pinned", m.Pinned)
		}
	}
}

func TestSingleEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "000001.sst")
	kvs := []kv{{ikey("hello", 42, base.KindSet), []byte("world")}}
	props := writeTable(t, path, WriterOptions{BloomBitsPerKey: 10, FileName: "000001.sst"}, kvs, nil)
	if props.Entries != 1 || props.Height != 0 || props.LeafPages != 1 || props.Pages != 3 || props.BloomPages != 1 {
		t.Fatalf("props = %+v", props)
	}
	if base.CompareInternal(props.Smallest, kvs[0].key) != 0 || base.CompareInternal(props.Largest, kvs[0].key) != 0 {
		t.Fatalf("bounds %s %s", props.Smallest, props.Largest)
	}
	r, pool := openTable(t, path, defaultPageSize, 1)
	defer r.Close()
	if err := checkAll(r, kvs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key   string
		seq   base.SeqNum
		found bool
	}{{"hello", 42, true}, {"hello", 100, true}, {"hello", 41, false}, {"hell", 50, false}, {"hello!", 50, false}, {"", 50, false}} {
		g, err := r.Get(nil, []byte(c.key), c.seq)
		if err != nil || g.Found != c.found {
			t.Errorf("Get(%q, %d) = %v, %v; want %v", c.key, c.seq, g.Found, err, c.found)
		}
	}
	it := r.newIter()
	if !it.SeekGE([]byte("a")) || string(it.Key().UserKey) != "hello" || it.SeekGE([]byte("hello\x00")) || !it.Prev() {
		t.Fatal("SeekGE/Prev")
	}
	if !it.SeekLT([]byte("z")) || it.SeekLT([]byte("hello")) || !it.Next() || string(it.Value()) != "world" {
		t.Fatal("SeekLT/Next")
	}
	it.Close()
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
}

func TestValueSizes(t *testing.T) {
	dir := t.TempDir()
	for _, P := range []int{1024, 4096} {
		sizes := []int{0, 1, P/4 - 20, P / 4, P, 10 * P, P - 8, 2 * (P - 8), 2*(P-8) + 1}
		var kvs []kv
		for i, n := range sizes {
			kvs = append(kvs, kv{ikey(fmt.Sprintf("k%03d", i), base.SeqNum(i+1), base.KindSet), pattern(n, i)})
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.sst", P))
		props := writeTable(t, path, WriterOptions{PageSize: P}, kvs, nil)
		if props.ValuePages == 0 {
			t.Fatalf("P=%d: no value pages: %+v", P, props)
		}
		r, pool := openTable(t, path, P, 1)
		if err := checkAll(r, kvs); err != nil {
			t.Fatalf("P=%d: %v", P, err)
		}
		// A nil value reads back empty.
		if g, err := r.Get(make([]byte, 3), []byte("k000"), 10); !g.Found || err != nil || len(g.Value) != 0 {
			t.Fatalf("empty value: %q %v %v", g.Value, g.Found, err)
		}
		r.Close()
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d pages pinned", m.Pinned)
		}
	}
}

func TestBinaryAndMaxSizeKeys(t *testing.T) {
	P := 1024
	max := MaxKeySize(P)
	keys := [][]byte{
		{}, {0x00}, {0x00, 0x00}, {0x00, 0xff}, {0x7f}, {0xff}, {0xff, 0x00}, {0xff, 0xff},
		bytes.Repeat([]byte{0x00}, max), bytes.Repeat([]byte{0xff}, max-1), bytes.Repeat([]byte{0xff}, max),
	}
	var kvs []kv
	for i, k := range keys {
		kvs = append(kvs, kv{base.MakeInternalKey(k, base.SeqNum(i+1), base.KindSet), pattern(i*40, i)})
		kvs = append(kvs, kv{base.MakeInternalKey(k, 0, base.KindDelete), nil})
	}
	kvs = sortKVs(kvs)
	path := filepath.Join(t.TempDir(), "000001.sst")
	props := writeTable(t, path, WriterOptions{PageSize: P, BloomBitsPerKey: 8}, kvs, []rd{{bytes.Repeat([]byte{0}, max), bytes.Repeat([]byte{0xff}, max), 3}})
	if props.Height == 0 {
		t.Fatalf("expected a tree: %+v", props)
	}
	r, _ := openTable(t, path, P, 1)
	defer r.Close()
	if err := checkAll(r, kvs); err != nil {
		t.Fatal(err)
	}

	w := NewWriter(&memFile{}, WriterOptions{PageSize: P})
	if err := w.Add(base.MakeInternalKey(make([]byte, max+1), 1, base.KindSet), nil); err == nil {
		t.Fatal("oversized key accepted")
	}
	if err := w.AddRangeDel([]byte("a"), make([]byte, max+1), 1); err == nil {
		t.Fatal("oversized range deletion key accepted")
	}
	w.Abort()
}

// TestVersionsSpanLeaves writes many versions of one key, so Get must
// continue into the next leaf when its descent lands just before the answer.
func TestVersionsSpanLeaves(t *testing.T) {
	var kvs []kv
	kvs = append(kvs, kv{ikey("a", 7, base.KindSet), []byte("a7")})
	for s := 1000; s >= 2; s -= 2 {
		kind := base.KindSet
		if s%10 == 0 {
			kind = base.KindDelete
		}
		var v []byte
		if kind == base.KindSet {
			v = []byte(fmt.Sprintf("v%d", s))
		}
		kvs = append(kvs, kv{ikey("key", base.SeqNum(s), kind), v})
	}
	kvs = append(kvs, kv{ikey("z", 3, base.KindSet), []byte("z3")})
	path := filepath.Join(t.TempDir(), "000001.sst")
	props := writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, nil)
	if props.LeafPages < 5 {
		t.Fatalf("only %d leaves", props.LeafPages)
	}
	r, _ := openTable(t, path, 1024, 1)
	defer r.Close()
	if err := checkAll(r, kvs); err != nil {
		t.Fatal(err)
	}
	st0 := r.Stats()
	for seq := base.SeqNum(0); seq <= 1002; seq++ {
		want, wantFound := modelGet(kvs, []byte("key"), seq)
		g, err := r.Get(nil, []byte("key"), seq)
		if err != nil || g.Found != wantFound || (g.Found && (g.Kind != want.key.Kind() || g.Seq != want.key.SeqNum() || !bytes.Equal(g.Value, want.value))) {
			t.Fatalf("Get(key, %d) = %q %s %d %v %v; want %s", seq, g.Value, g.Kind, g.Seq, g.Found, err, want.key)
		}
	}
	if st := r.Stats(); st.BloomChecks-st0.BloomChecks != 1003 || st.BloomNegatives != 0 || st.BloomFalsePositives != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A Get with seq below every version finds nothing but is no false
	// positive: the key is in the file.
	if g, _ := r.Get(nil, []byte("key"), 1); g.Found {
		t.Fatal("found below the oldest version")
	}
	if st := r.Stats(); st.BloomFalsePositives != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeletes(t *testing.T) {
	kvs := []kv{
		{ikey("a", 9, base.KindDelete), nil},
		{ikey("a", 5, base.KindSet), []byte("old")},
		{ikey("b", 3, base.KindDelete), nil},
		{ikey("c", 8, base.KindSet), []byte("c8")},
		{ikey("c", 8, base.KindDelete), nil}, // same seq, smaller trailer
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{}, kvs, nil)
	r, _ := openTable(t, path, defaultPageSize, 1)
	defer r.Close()
	if err := checkAll(r, kvs); err != nil {
		t.Fatal(err)
	}
	g, err := r.Get([]byte("junk"), []byte("a"), 100)
	if !g.Found || err != nil || g.Kind != base.KindDelete || g.Seq != 9 || len(g.Value) != 0 {
		t.Fatalf("Get(a) = %q %s %d %v %v", g.Value, g.Kind, g.Seq, g.Found, err)
	}
	g, _ = r.Get(nil, []byte("a"), 8)
	if !g.Found || g.Kind != base.KindSet || g.Seq != 5 || string(g.Value) != "old" {
		t.Fatalf("Get(a, 8) = %q %s %d %v", g.Value, g.Kind, g.Seq, g.Found)
	}
}

// TestRootOutsidePool checks that a lookup reads the root node from the
// Reader's own copy: one pool Get per level below it, the leaf included.
func TestRootOutsidePool(t *testing.T) {
	kvs := make([]kv, 20000)
	for i := range kvs {
		kvs[i] = kv{ikey(fmt.Sprintf("key-%08d", i), base.SeqNum(i+1), base.KindSet), pattern(20, i)}
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	props := writeTable(t, path, WriterOptions{PageSize: 1024}, kvs, nil)
	if props.Height < 2 {
		t.Fatalf("height %d, want >= 2", props.Height)
	}
	r, pool := openTable(t, path, 1024, 1)
	defer r.Close()
	key := kvs[12345].key.UserKey
	for round := range 2 {
		before := pool.Metrics()
		if g, err := r.Get(nil, key, base.MaxSeqNum); !g.Found || err != nil {
			t.Fatalf("Get = %v %v", g.Found, err)
		}
		after := pool.Metrics()
		if gets := after.Hits + after.Misses - before.Hits - before.Misses; gets != uint64(props.Height) {
			t.Fatalf("round %d: %d pool Gets for a tree of height %d, want %d", round, gets, props.Height, props.Height)
		}
	}
	it := r.newIter()
	before := pool.Metrics()
	if !it.SeekGE(key) {
		t.Fatal("SeekGE found nothing")
	}
	after := pool.Metrics()
	if gets := after.Hits + after.Misses - before.Hits - before.Misses; gets != uint64(props.Height) {
		t.Fatalf("SeekGE: %d pool Gets for a tree of height %d, want %d", gets, props.Height, props.Height)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMultiLevelTree(t *testing.T) {
	const n = 30000
	kvs := make([]kv, n)
	for i := range kvs {
		kvs[i] = kv{ikey(fmt.Sprintf("key-%08d", i*3), base.SeqNum(i+1), base.KindSet), pattern(i%50, i)}
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	props := writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, nil)
	if props.Height < 2 {
		t.Fatalf("height %d, want >= 2: %+v", props.Height, props)
	}
	pool := cache.New(cache.Options{Capacity: 16 * 1024, PageSize: 1024}) // tiny: evictions
	r, err := openWith(path, pool, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := checkAll(r, kvs); err != nil {
		t.Fatal(err)
	}
	// Absent keys between and around the present ones.
	for i := -1; i < n; i += 97 {
		k := []byte(fmt.Sprintf("key-%08d", i*3+1))
		if g, err := r.Get(nil, k, base.MaxSeqNum); g.Found || err != nil {
			t.Fatalf("Get(%s) = %v %v", k, g.Found, err)
		}
		it := r.newIter()
		ok := it.SeekGE(k)
		if j := i + 1; j < n {
			if !ok || base.CompareInternal(it.Key(), kvs[j].key) != 0 {
				t.Fatalf("SeekGE(%s) = %v %s", k, ok, it.Key())
			}
		} else if ok {
			t.Fatal("SeekGE past the end")
		}
		ok = it.SeekLT(k)
		if i >= 0 {
			if !ok || base.CompareInternal(it.Key(), kvs[i].key) != 0 {
				t.Fatalf("SeekLT(%s) = %v %s", k, ok, it.Key())
			}
		} else if ok {
			t.Fatal("SeekLT before the start")
		}
		it.Close()
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
	if m := pool.Metrics(); m.Evictions == 0 {
		t.Fatal("expected evictions with a small pool")
	}
}

func TestIterExhaustAndReturn(t *testing.T) {
	var kvs []kv
	for i := 0; i < 500; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("%05d", i), 1, base.KindSet), pattern(30, i)})
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024}, kvs, nil)
	r, pool := openTable(t, path, 1024, 1)
	defer r.Close()
	it := r.newIter()
	if !it.Last() || it.Next() || it.Valid() {
		t.Fatal("Next past the end")
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("exhausted iterator pins %d pages", m.Pinned)
	}
	if !it.Prev() || base.CompareInternal(it.Key(), kvs[len(kvs)-1].key) != 0 {
		t.Fatal("Prev after the end does not return to the last entry")
	}
	if !it.First() || it.Prev() || !it.Next() || base.CompareInternal(it.Key(), kvs[0].key) != 0 {
		t.Fatal("Next after running off the front")
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if it.First() || !errors.Is(it.Error(), base.ErrClosed) {
		t.Fatal("closed iterator moved")
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(&memFile{}, WriterOptions{PageSize: 1000})
	if err := w.Add(ikey("a", 1, base.KindSet), nil); err == nil {
		t.Fatal("invalid page size accepted")
	}
	w = NewWriter(&memFile{}, WriterOptions{})
	if err := w.Add(ikey("b", 5, base.KindSet), nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []base.InternalKey{ikey("b", 5, base.KindSet), ikey("b", 6, base.KindSet), ikey("a", 9, base.KindSet)} {
		if err := w.Add(k, nil); err == nil {
			t.Fatalf("Add(%s) after b#5 accepted", k)
		}
	}
	if err := w.Add(ikey("c", 1, base.KindRangeDelete), nil); err == nil {
		t.Fatal("range-delete kind accepted by Add")
	}
	if err := w.AddRangeDel([]byte("b"), []byte("b"), 1); err == nil {
		t.Fatal("empty range deletion accepted")
	}
	if err := w.Add(ikey("b", 4, base.KindDelete), nil); err != nil {
		t.Fatal(err)
	}
	if w.EstimatedSize() <= 0 {
		t.Fatal("EstimatedSize")
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ikey("z", 1, base.KindSet), nil); err == nil {
		t.Fatal("Add after Finish")
	}
	if _, err := w.Finish(); err == nil {
		t.Fatal("second Finish")
	}
}

func TestBloomStats(t *testing.T) {
	var kvs []kv
	for i := 0; i < 2000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%06d", i*2), 1, base.KindSet), []byte("v")})
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	props := writeTable(t, path, WriterOptions{BloomBitsPerKey: 10}, kvs, nil)
	if props.BloomPages == 0 || props.BloomBitsPerKey != 10 {
		t.Fatalf("props %+v", props)
	}
	r, _ := openTable(t, path, defaultPageSize, 1)
	defer r.Close()
	for i := 0; i < 2000; i++ {
		if g, err := r.Get(nil, []byte(fmt.Sprintf("k%06d", i*2+1)), 5); g.Found || err != nil {
			t.Fatal(g.Found, err)
		}
	}
	st := r.Stats()
	if st.BloomChecks != 2000 || st.BloomNegatives+st.BloomFalsePositives != 2000 || st.BloomFalsePositives > 100 {
		t.Fatalf("stats %+v", st)
	}
	if !r.mayContain([]byte("k000000")) {
		t.Fatal("MayContain of a present key")
	}
}

func TestCachePageSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	kvs := []kv{{ikey("a", 1, base.KindSet), []byte("x")}}
	for _, c := range []struct{ file, pool int }{{4096, 1024}, {1024, 4096}, {2048, 1024}} {
		path := filepath.Join(dir, fmt.Sprintf("%d-%d.sst", c.file, c.pool))
		writeTable(t, path, WriterOptions{PageSize: c.file}, kvs, nil)
		pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: c.pool})
		_, err := openWith(path, pool, 1)
		if err == nil || errors.Is(err, base.ErrCorruption) {
			t.Fatalf("file %d, pool %d: err = %v, want a page size error", c.file, c.pool, err)
		}
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d pages pinned", m.Pinned)
		}
	}
}

func TestReaderClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{}, []kv{{ikey("a", 1, base.KindSet), []byte("x")}}, nil)
	r, pool := openTable(t, path, defaultPageSize, 1)
	if g, _ := r.Get(nil, []byte("a"), 1); !g.Found {
		t.Fatal("not found")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(nil, []byte("a"), 1); !errors.Is(err, base.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := r.Close(); !errors.Is(err, base.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
}

func TestConcurrentReaders(t *testing.T) {
	var kvs []kv
	for i := 0; i < 5000; i++ {
		var v []byte
		if i%100 == 0 {
			v = pattern(3000, i) // overflow
		} else {
			v = pattern(i%60, i)
		}
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%06d", i), base.SeqNum(i+1), base.KindSet), v})
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, nil)
	pool := cache.New(cache.Options{Capacity: 64 * 1024, PageSize: 1024}) // smaller than the file
	r, err := openWith(path, pool, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			if g%2 == 0 {
				errc <- checkAll(r, kvs)
				return
			}
			buf := make([]byte, 0, 4096)
			for i := g; i < len(kvs); i += 3 {
				g, err := r.Get(buf, kvs[i].key.UserKey, base.MaxSeqNum)
				if err != nil || !g.Found || !bytes.Equal(g.Value, kvs[i].value) {
					errc <- fmt.Errorf("Get(%s): %v %v", kvs[i].key, g.Found, err)
					return
				}
			}
			errc <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
}

// TestHotPathsDoNotAllocate checks that Get with room in dst and iteration
// over cached pages allocate nothing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	var kvs []kv
	for i := 0; i < 2000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%06d", i), base.SeqNum(i+1), base.KindSet), pattern(i%90, i)})
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, nil)
	r, _ := openTable(t, path, 1024, 1)
	defer r.Close()
	if err := checkAll(r, kvs); err != nil { // warms the cache
		t.Fatal(err)
	}
	dst := make([]byte, 0, 256)
	i := 0
	if n := testing.AllocsPerRun(200, func() {
		i = (i + 37) % len(kvs)
		if g, err := r.Get(dst, kvs[i].key.UserKey, base.MaxSeqNum); !g.Found || err != nil {
			t.Fatal("Get", i, err)
		}
		if g, err := r.Get(dst, []byte("k0000005x"), base.MaxSeqNum); g.Found || err != nil {
			t.Fatal("Get of an absent key", err)
		}
	}); n != 0 {
		t.Fatalf("Get allocates %v times per call", n)
	}
	it := r.newIter()
	defer it.Close()
	it.First()
	if n := testing.AllocsPerRun(2000, func() {
		if !it.Next() {
			it.First()
		}
		_ = it.Value()
	}); n != 0 {
		t.Fatalf("Next allocates %v times per call", n)
	}
}

// faultyFile fails WriteAt after failWrites successful calls, Sync when
// failSync, and every ReadAt that covers any byte of page readFailPage of
// pageSize bytes (a read of pageSize 0 covers that page when it reads
// exactly the page).
type faultyFile struct {
	memFile
	failWrites   int
	failSync     bool
	readFailPage int64
	pageSize     int64
}

var errInjected = errors.New("injected failure")

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if f.failWrites == 0 {
		return 0, errInjected
	}
	f.failWrites--
	return f.memFile.WriteAt(p, off)
}

func (f *faultyFile) Sync() error {
	if f.failSync {
		return errInjected
	}
	return nil
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if f.readFailPage >= 0 {
		if P := f.pageSize; P == 0 && off == f.readFailPage*int64(len(p)) ||
			P > 0 && off < (f.readFailPage+1)*P && f.readFailPage*P < off+int64(len(p)) {
			return 0, errInjected
		}
	}
	return f.memFile.ReadAt(p, off)
}

func TestWriterIOErrors(t *testing.T) {
	var kvs []kv
	for i := 0; i < 3000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%06d", i), 1, base.KindSet), pattern(200, i)})
	}
	// Fail the i-th write for every i until a run succeeds.
	for i := 0; ; i++ {
		f := &faultyFile{failWrites: i, readFailPage: -1}
		_, err := writeTo(f, WriterOptions{PageSize: 1024}, kvs, nil)
		if err == nil {
			if i == 0 {
				t.Fatal("no writes at all")
			}
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	f := &faultyFile{failWrites: 1 << 30, failSync: true, readFailPage: -1}
	if _, err := writeTo(f, WriterOptions{}, kvs, nil); !errors.Is(err, errInjected) {
		t.Fatalf("failed sync: %v", err)
	}
}

func TestReaderIOErrors(t *testing.T) {
	var kvs []kv
	for i := 0; i < 3000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%06d", i), 1, base.KindSet), pattern(i%50, i)})
	}
	good := &memFile{}
	props, err := writeTo(good, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, []rd{{[]byte("a"), []byte("b"), 1}})
	if err != nil {
		t.Fatal(err)
	}
	// A failed readahead run is ignored; the page it could not load must
	// still report the failure when it is read on its own.
	for _, ra := range []int{-1, 0} {
		for p := int64(0); p < int64(props.Pages); p += 7 {
			f := &faultyFile{memFile: memFile{data: good.data}, readFailPage: p, pageSize: 1024}
			pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: 1024})
			r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 5, Readahead: ra})
			if err == nil {
				err = checkAll(r, kvs)
				r.Close()
			}
			if !errors.Is(err, errInjected) || errors.Is(err, base.ErrCorruption) {
				t.Fatalf("readahead %d: read failure at page %d: %v", ra, p, err)
			}
			if m := pool.Metrics(); m.Pinned != 0 {
				t.Fatalf("%d pages pinned", m.Pinned)
			}
		}
	}
}

// TestInitIterReuse: one Iter serves files of different shapes one after
// another, with the buffers of the last, and refuses to be reset while it
// still pins a page.
func TestInitIterReuse(t *testing.T) {
	dir := t.TempDir()
	var tables [2][]kv
	for i := range 3000 {
		v := bytes.Repeat(pattern(20, i), 5) // compressible: Snappy path and vbuf
		tables[0] = append(tables[0], kv{ikey(fmt.Sprintf("a%05d", i), 1, base.KindSet), v})
		if i < 40 {
			tables[1] = append(tables[1], kv{ikey(fmt.Sprintf("bb%03d", i), 2, base.KindSet), []byte("x")})
		}
	}
	var it Iter
	for round := range 4 {
		kvs := tables[round%2]
		path := filepath.Join(dir, fmt.Sprintf("%d.sst", round))
		writeTable(t, path, WriterOptions{PageSize: 1024, Compression: SnappyCompression}, kvs, nil)
		r, _ := openTable(t, path, 1024, base.FileNum(round+1))
		r.InitIter(&it)
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			if err := sameEntry(&it, kvs[n]); err != nil {
				t.Fatalf("round %d entry %d: %v", round, n, err)
			}
			n++
		}
		if n != len(kvs) || it.Error() != nil {
			t.Fatalf("round %d: %d of %d entries: %v", round, n, len(kvs), it.Error())
		}
		mid := kvs[len(kvs)/2]
		if !it.SeekGE(mid.key.UserKey) || sameEntry(&it, mid) != nil {
			t.Fatalf("round %d: SeekGE(%q) missed", round, mid.key.UserKey)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("round %d: InitIter of an open iterator did not panic", round)
				}
			}()
			r.InitIter(&it)
		}()
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestValueRefExample checks the worked example of a value-stream
// reference in the package comment.
func TestValueRefExample(t *testing.T) {
	val := make([]byte, 100)
	rand.New(rand.NewSource(3)).Read(val)
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: 1024, Compression: SnappyCompression}, []kv{{ikey("b", 6, base.KindSet), val}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if props.LeafPages != 1 || props.ValuePages != 1 || props.ValueBytes != 100 {
		t.Fatalf("properties %+v", props)
	}
	leaf, vpage := f.data[1024:2048], f.data[2048:3072]
	if want := []byte{0x00, 0x81, 0x0c, 0x91, 0x03, 0x00}; leaf[0] != pageTypeLeaf || !bytes.Equal(leaf[1024-len(want):], want) {
		t.Fatalf("leaf entry % x, want % x", leaf[1024-len(want):], want)
	}
	if !bytes.Equal(vpage[:4], []byte{7, 0, 100, 0}) || !bytes.Equal(vpage[8:108], val) {
		t.Fatalf("value page header % x", vpage[:8])
	}
	dir := f.data[int(props.Pages-1)*1024:] // no filter: the directory is last
	if dir[0] != pageTypeValueDir || binary.LittleEndian.Uint32(dir[8:]) != 2 {
		t.Fatalf("directory page % x", dir[:12])
	}
}

// TestValuesOnPageBoundaries lays values in the value stream so that they
// end exactly on a value page's end, one byte before it, one byte past it,
// and span one, two and three whole pages from a page's start and from its
// middle, and reads each back by Get, by iteration both ways and by a
// merge's scan.
func TestValuesOnPageBoundaries(t *testing.T) {
	for _, P := range []int{1024, 4096} {
		c := payloadCapacity(P)
		// The stream offsets where successive values end: on a page's
		// end, one byte before and after it, a whole page from a page's
		// start, two and a half pages from a page's middle, and so on.
		// Every value is over the inline limit.
		ends := []int{c, 2 * c, 3*c - 1, 4*c + 1, 5 * c, 6*c + c/2, 8 * c, 11*c + c/2, 12*c - 1, 13 * c, 15 * c}
		var kvs []kv
		off, boundaries := 0, 0
		for i, e := range ends {
			n := e - off
			if n <= P/16 {
				t.Fatalf("P=%d: a value of %d bytes would stay inline", P, n)
			}
			kvs = append(kvs, kv{ikey(fmt.Sprintf("k%03d", i), base.SeqNum(i+1), base.KindSet), pattern(n, i)})
			off = e
			if off%c == 0 {
				boundaries++
			}
		}
		f := &memFile{}
		props, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if props.ValueBytes != uint64(off) || boundaries < 3 {
			t.Fatalf("P=%d: stream of %d bytes, want %d; %d values end on a page end", P, props.ValueBytes, off, boundaries)
		}
		pool := cache.New(cache.Options{Capacity: 64 * int64(P), PageSize: P})
		r, err := Open(&memFile{data: f.data}, ReaderOptions{Cache: pool, FileNum: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAll(r, kvs); err != nil {
			t.Fatalf("P=%d: %v", P, err)
		}
		if _, err := r.Verify(); err != nil {
			t.Fatalf("P=%d: Verify: %v", P, err)
		}
		r.Close()
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("P=%d: %d pages pinned", P, m.Pinned)
		}
	}
}

// TestLargeValueReadPaths reads values of 2 to 40 pages by Get around the
// pool (nothing of theirs cached: the values of 4 pages and more are read
// with one read and not cached), then after a scan cached them (through
// the pool), and checks a damaged value page is reported, naming it, on
// the path around the pool.
func TestLargeValueReadPaths(t *testing.T) {
	const P = 1024
	c := payloadCapacity(P)
	var kvs []kv
	// Largest first: each value starts on the last page of the one
	// before, which a read around the pool did not cache.
	for i, pages := range []int{40, 10, 4, 2} {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%d", i), base.SeqNum(i+1), base.KindSet), pattern(pages*c-7, i)})
	}
	f := &memFile{}
	if _, err := writeTo(f, WriterOptions{PageSize: P}, kvs, nil); err != nil {
		t.Fatal(err)
	}
	get := func(r *Reader, i int) ([]byte, error) {
		g, err := r.Get(nil, kvs[i].key.UserKey, base.MaxSeqNum)
		if err == nil && !g.Found {
			err = fmt.Errorf("key %d not found", i)
		}
		return g.Value, err
	}
	pool := cache.New(cache.Options{Capacity: 256 * P, PageSize: P})
	r, err := Open(&memFile{data: f.data}, ReaderOptions{Cache: pool, FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range kvs {
		before := pool.Metrics().BytesRead
		v, err := get(r, i)
		if err != nil || !bytes.Equal(v, kvs[i].value) {
			t.Fatalf("value %d around the pool: %d bytes, %v", i, len(v), err)
		}
		if cached := pool.Metrics().BytesRead - before; i < 3 && cached > 2*P {
			t.Fatalf("value %d of %d bytes took %d bytes of the pool", i, len(v), cached)
		}
	}
	if err := checkAll(r, kvs); err != nil { // a scan: the values are now cached
		t.Fatal(err)
	}
	for i := range kvs {
		if v, err := get(r, i); err != nil || !bytes.Equal(v, kvs[i].value) {
			t.Fatalf("value %d through the pool: %d bytes, %v", i, len(v), err)
		}
	}
	// Damage a middle page of the 10-page value (stream pages 39 to 49).
	pn := r.valueDir[44]
	r.Close()
	bad := bytes.Clone(f.data)
	bad[int(pn)*P+P/2] ^= 0x10
	r, err = Open(&memFile{data: bad}, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 256 * P, PageSize: P}), FileNum: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = get(r, 1)
	var ce *base.CorruptionError
	if !errors.As(err, &ce) || ce.Where != fmt.Sprintf("page %d", pn) {
		t.Fatalf("damaged value page %d read around the pool: %v", pn, err)
	}
}

// bigValueFile writes a file of page size P holding the key "big" with a
// value filling the given number of value pages, drawn from seed.
func bigValueFile(t *testing.T, P, pages, seed int) ([]byte, *memFile) {
	t.Helper()
	big := pattern(pages*payloadCapacity(P), seed)
	f := &memFile{}
	if _, err := writeTo(f, WriterOptions{PageSize: P}, []kv{{ikey("big", 1, base.KindSet), big}}, nil); err != nil {
		t.Fatal(err)
	}
	return big, f
}

// TestHugeValueReadAroundPool: a value of many runs of bypassRunPages
// pages is read around the pool too, a run at a time into a scratch
// buffer of that size, not its own, and comes back whole; damage to a
// page of its second run is corruption naming that page.
func TestHugeValueReadAroundPool(t *testing.T) {
	const P, pages = 1024, 300
	big, f := bigValueFile(t, P, pages, 3)
	pool := cache.New(cache.Options{Capacity: 1024 * P, PageSize: P})
	c := &readCounter{memFile: &memFile{data: f.data}}
	r, err := Open(c, ReaderOptions{Cache: pool, FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.reads = 0
	g, err := r.Get(nil, []byte("big"), base.MaxSeqNum)
	if err != nil || !g.Found || !bytes.Equal(g.Value, big) {
		t.Fatalf("Get of %d bytes: %d bytes, %v, %v", len(big), len(g.Value), g.Found, err)
	}
	if m := pool.Metrics(); m.Prefetched > 0 || m.BytesRead > 2*P {
		t.Fatalf("the value's pages went through the pool: %+v", m)
	}
	// The leaf, the root and a read per run of the value's pages.
	if runs := (pages + bypassRunPages - 1) / bypassRunPages; c.reads > 2+runs {
		t.Fatalf("a %d-page value took %d reads, want %d", pages, c.reads, 2+runs)
	}
	pn := r.valueDir[bypassRunPages+10]
	r.Close()
	bad := bytes.Clone(f.data)
	bad[int(pn)*P+P/2] ^= 0x10
	r, err = Open(&memFile{data: bad}, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 1024 * P, PageSize: P}), FileNum: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Get(nil, []byte("big"), base.MaxSeqNum)
	var ce *base.CorruptionError
	if !errors.As(err, &ce) || ce.Where != fmt.Sprintf("page %d", pn) {
		t.Fatalf("damaged page %d of a huge value: %v", pn, err)
	}
}

// TestValueAroundPoolScratchStaysSmall: a value read around the pool goes
// into the caller's buffer through a scratch buffer of a run of pages,
// whatever the value's size. One as large as the value's pages was
// dropped with its sync.Pool at every garbage collection, and a Get after
// one allocated it again: a megabyte for a 1 MiB value.
func TestValueAroundPoolScratchStaysSmall(t *testing.T) {
	const P, pages = 1024, 200
	big, f := bigValueFile(t, P, pages, 5)
	r, err := Open(&memFile{data: f.data}, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 256 * P, PageSize: P}), FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 0, len(big)) // exactly the value's size
	for range 3 {
		runtime.GC()
		runtime.GC() // twice: a sync.Pool keeps its buffers through one
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g, err := r.Get(buf[:0], []byte("big"), base.MaxSeqNum)
		runtime.ReadMemStats(&after)
		if err != nil || !bytes.Equal(g.Value, big) {
			t.Fatalf("Get: %d bytes, %v", len(g.Value), err)
		}
		if &g.Value[0] != &buf[:1][0] {
			t.Fatal("the value did not go into the caller's buffer, which had room for it")
		}
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(pages*P/2); got > limit {
			t.Fatalf("a Get of a %d-page value allocated %d bytes, more than %d", pages, got, limit)
		}
	}
}
