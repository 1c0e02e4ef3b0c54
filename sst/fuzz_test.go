package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
)

// The fuzz targets cover every decoder of bytes read from disk. Each takes a
// reseal flag: when set, the harness recomputes page checksums so the
// fuzzer reaches the structure checks behind them.

// fuzzSeedFiles returns small valid files for the seed corpora.
func fuzzSeedFiles(tb testing.TB) [][]byte {
	var out [][]byte
	write := func(opts WriterOptions, kvs []kv, rds []rd) {
		f := &memFile{}
		if _, err := writeTo(f, opts, kvs, rds); err != nil {
			tb.Fatal(err)
		}
		out = append(out, f.data)
	}
	write(WriterOptions{PageSize: 1024}, []kv{{ikey("a", 5, base.KindSet), []byte("xy")}}, nil)
	write(WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, []kv{
		{ikey("a", 9, base.KindDelete), nil},
		{ikey("a", 5, base.KindSet), pattern(1500, 1)},
		{ikey("b\x00\xff", 3, base.KindSet), []byte("v")},
	}, []rd{{[]byte("a"), []byte("c"), 4}})
	var kvs []kv
	for i := 0; i < 60; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("k%04d", i), base.SeqNum(i), base.KindSet), pattern(i%20, i)})
	}
	write(WriterOptions{PageSize: 1024, BloomBitsPerKey: 6}, kvs, []rd{{[]byte("k0010"), []byte("k0020"), 200}})
	write(WriterOptions{PageSize: 1024}, nil, []rd{{[]byte("x"), []byte("y"), 1}})
	// Compressed values, inline and overflowed.
	kvs = kvs[:0]
	for i := 0; i < 40; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("c%04d", i), base.SeqNum(i), base.KindSet), repeated(20+i*3, 7, i)})
	}
	kvs = append(kvs, kv{ikey("z", 1, base.KindSet), repeated(3000, 1500, 9)})
	write(WriterOptions{PageSize: 1024, Compression: SnappyCompression}, kvs, nil)
	// Files of the earlier format versions (legacy leaf entries): the
	// smallest SST of each golden database.
	for _, v := range []string{"v1", "v2"} {
		paths, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", v, "db", "*.sst"))
		var smallest []byte
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil && (smallest == nil || len(data) < len(smallest)) {
				smallest = data
			}
		}
		if smallest == nil {
			tb.Fatalf("no golden %s SST", v)
		}
		out = append(out, smallest)
	}
	return out
}

// repeated returns n bytes that repeat a pattern of period bytes: Snappy
// shrinks them to about period bytes.
func repeated(n, period, seed int) []byte {
	v := pattern(n, seed)
	for i := period; i < n; i++ {
		v[i] = v[i-period]
	}
	return v
}

// resealAll recomputes the checksum of every whole page of data.
func resealAll(data []byte, P int) {
	for p := 0; (p+1)*P <= len(data); p++ {
		page := data[p*P : (p+1)*P]
		binary.LittleEndian.PutUint32(page[4:], pageChecksum(page, uint32(p)))
	}
}

// fuzzPageSize picks the cache page size for fuzzed file bytes: the size
// the metadata claims when valid, else 1024.
func fuzzPageSize(data []byte) int {
	if len(data) >= metaPageSizeOff+4 {
		if p := int(binary.LittleEndian.Uint32(data[metaPageSizeOff:])); validPageSize(p) {
			return p
		}
	}
	return MinPageSize
}

func FuzzOpen(f *testing.F) {
	for _, d := range fuzzSeedFiles(f) {
		f.Add(d, false)
		f.Add(d, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if len(data) > 1<<20 {
			return
		}
		data = bytes.Clone(data)
		if reseal {
			resealAll(data, fuzzPageSize(data))
		}
		runOpenBody(t, data)
	})
}

// runOpenBody opens data and reads all of it every way it can, Layout
// included.
func runOpenBody(t *testing.T, data []byte) {
	P := fuzzPageSize(data)
	{
		pool := cache.New(cache.Options{Capacity: 32 * int64(P), PageSize: P})
		r, err := Open(&memFile{data: data}, ReaderOptions{Cache: pool, FileNum: 1, FileName: "fuzz.sst"})
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("Open: non-corruption error %v", err)
			}
			if m := pool.Metrics(); m.Pinned != 0 {
				t.Fatalf("%d pages pinned after a failed Open", m.Pinned)
			}
			return
		}
		checkErr := func(err error) {
			// A crafted tree as deep as maxHeight pins more pages than
			// the small pool holds: the pool's refusal is fine too.
			if err != nil && !errors.Is(err, base.ErrCorruption) && !errors.Is(err, cache.ErrAllPinned) {
				t.Fatalf("non-corruption error %v", err)
			}
		}
		var keys [][]byte
		it := r.newIter()
		steps := 0
		for ok := it.First(); ok && steps < 5000; ok = it.Next() {
			_ = it.Value()
			if steps%7 == 0 {
				keys = append(keys, bytes.Clone(it.Key().UserKey))
			}
			steps++
		}
		checkErr(it.Error())
		steps = 0
		for ok := it.Last(); ok && steps < 5000; ok = it.Prev() {
			_ = it.Value()
			steps++
		}
		checkErr(it.Error())
		keys = append(keys, nil, []byte("a"), []byte{0xff, 0xff})
		for _, k := range keys {
			if it.SeekGE(k) {
				it.Next()
				it.Prev()
			}
			if it.SeekLT(k) {
				it.Prev()
				it.Next()
			}
			_, err := r.Get(nil, k, base.MaxSeqNum)
			checkErr(err)
			_, err = r.Get(nil, k, 3)
			checkErr(err)
		}
		checkErr(it.Close())
		// A merge's scan reads the leaf section without the pool.
		scan := r.NewScanIter(3 * r.meta.pageSize)
		steps = 0
		for ok := scan.First(); ok && steps < 5000; ok = scan.Next() {
			_ = scan.Value()
			steps++
		}
		checkErr(scan.Close())
		_, err = r.Verify()
		checkErr(err)
		_, err = r.Layout()
		checkErr(err)
		for _, d := range r.RangeDels() {
			if bytes.Compare(d.Start, d.End) >= 0 {
				t.Fatalf("range deletion [%q, %q) is empty", d.Start, d.End)
			}
		}
		r.Close()
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d pages pinned", m.Pinned)
		}
	}
}

// fuzzPage turns fuzz bytes into a page: its own length when that is a page
// size, else zero-padded or cut to 1024 bytes.
func fuzzPage(data []byte) []byte {
	if validPageSize(len(data)) {
		return bytes.Clone(data)
	}
	page := make([]byte, MinPageSize)
	copy(page, data)
	return page
}

// seedPages returns the pages of type typ in the seed files.
func seedPages(tb testing.TB, typ byte) [][]byte {
	var out [][]byte
	for _, d := range fuzzSeedFiles(tb) {
		for p := 0; (p+1)*1024 <= len(d); p++ {
			if d[p*1024] == typ {
				out = append(out, d[p*1024:(p+1)*1024])
			}
		}
	}
	return out
}

func FuzzLeafPage(f *testing.F) {
	for _, typ := range []byte{pageTypeLeaf, pageTypeRangeDel} {
		for _, p := range seedPages(f, typ) {
			f.Add(p, false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, rangeDel bool) {
		page := fuzzPage(data)
		typ := pageTypeLeaf
		if rangeDel {
			typ = pageTypeRangeDel
		}
		// Unvalidated pages: the accessors must not panic.
		for i := -1; i < 8; i++ {
			decodeLeafEntry(page, i)
			leafKeyAt(page, i)
			userKeyAt(page, i, []byte("k"))
			compareLeafKeyAt(page, i, base.MakeInternalKey([]byte("k"), 1, base.KindSet))
		}
		leafPrefix(page)
		if err := checkLeafPage(page, typ, leafBounds{ovfEnd: 1 << 20, streamLen: 1 << 40}); err != nil {
			return
		}
		n := pageCount(page)
		for i := 0; i < n; i++ {
			e, ok := decodeLeafEntry(page, i)
			suffix, trailer, _, kok := leafKeyAt(page, i)
			if !ok || !kok || !bytes.Equal(suffix, e.suffix) || trailer != e.trailer {
				t.Fatalf("validated page: slot %d does not decode", i)
			}
			prefix, _ := leafPrefix(page)
			if e.compressed && !e.overflow {
				appendDecompressed(nil, e.value) // may fail, must not panic
			}
			target := base.InternalKey{UserKey: appendUserKey(nil, prefix, e.suffix), Trailer: e.trailer}
			if !userKeyAt(page, i, target.UserKey) {
				t.Fatalf("userKeyAt(%d) is false for its own key", i)
			}
			if c, _ := compareLeafKeyAt(page, i, target); c != 0 {
				t.Fatalf("compareLeafKeyAt(%d) = %d for its own key", i, c)
			}
			if j := searchLeaf(page, n, target); j != i {
				t.Fatalf("searchLeaf for slot %d's key = %d", i, j)
			}
			target.Trailer++ // sorts just before the entry
			want := i
			if i > 0 {
				// The slot before may hold exactly that key (the same
				// user key, a trailer one higher), and come first.
				if c, _ := compareLeafKeyAt(page, i-1, target); c == 0 {
					want = i - 1
				}
			}
			if j := searchLeaf(page, n, target); j != want {
				t.Fatalf("searchLeaf just before slot %d = %d, want %d", i, j, want)
			}
		}
	})
}

func FuzzNodePage(f *testing.F) {
	for _, p := range seedPages(f, pageTypeNode) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		page := fuzzPage(data)
		for i := -1; i < 8; i++ {
			decodeNodeEntry(page, i)
		}
		if err := checkNodePage(page, 1<<20); err != nil {
			return
		}
		n := pageCount(page)
		for i := 0; i < n; i++ {
			sep, child, ok := decodeNodeEntry(page, i)
			if !ok || child == 0 {
				t.Fatalf("validated page: slot %d does not decode", i)
			}
			target, _ := base.DecodeInternalKey(sep)
			if j := searchNode(page, n, target, false); j != i {
				t.Fatalf("searchNode(<=) for slot %d's separator = %d", i, j)
			}
			if j := searchNode(page, n, target, true); j != max(i-1, 0) {
				t.Fatalf("searchNode(<) for slot %d's separator = %d", i, j)
			}
		}
	})
}

func FuzzMetaPage(f *testing.F) {
	for _, d := range fuzzSeedFiles(f) {
		f.Add(d[:1024], int64(len(d)), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, fileSize int64, reseal bool) {
		page := make([]byte, fuzzPageSize(data))
		copy(page, data)
		if reseal {
			binary.LittleEndian.PutUint32(page[4:], pageChecksum(page, 0))
		}
		m, err := decodeMeta(page, fileSize)
		if err != nil {
			return
		}
		if int64(m.totalPages)*int64(m.pageSize) != fileSize {
			t.Fatalf("accepted %d pages for a file of %d bytes", m.totalPages, fileSize)
		}
		again := make([]byte, len(page))
		encodeMeta(m, again)
		m2, err := decodeMeta(again, fileSize)
		if err != nil {
			t.Fatalf("re-encoded metadata fails: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v != %+v", m, m2)
		}
	})
}

// TestWriteFuzzSeeds regenerates the committed seed corpora under
// testdata/fuzz when STRATA_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("STRATA_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set STRATA_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, args ...any) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			case bool:
				fmt.Fprintf(&b, "bool(%v)\n", v)
			case int64:
				fmt.Fprintf(&b, "int64(%d)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range fuzzSeedFiles(t) {
		write("FuzzOpen", i, d, i%2 == 1)
		write("FuzzMetaPage", i, d[:1024], int64(len(d)), false)
	}
	for i, p := range seedPages(t, pageTypeLeaf)[:3] {
		write("FuzzLeafPage", i, p, false)
	}
	for i, p := range seedPages(t, pageTypeRangeDel)[:1] {
		write("FuzzLeafPage", 10+i, p, true)
	}
	for i, p := range seedPages(t, pageTypeNode) {
		write("FuzzNodePage", i, p)
	}
}

// FuzzCompressedValue feeds arbitrary stored bytes to the value decoder
// (it must fail cleanly or decode within the size limit) and checks that
// any input survives a compress/decompress round trip.
func FuzzCompressedValue(f *testing.F) {
	f.Add([]byte("abcdefghabcdefghabcdefghabcdefghabcdefgh"))
	f.Add([]byte{0x28, 0x1c, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x7e, 0x08, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := appendDecompressed(nil, data); err == nil && len(v) > maxValueSize {
			t.Fatalf("decoded %d bytes, above the limit", len(v))
		}
		c := compressor{kind: SnappyCompression}
		stored, compressed := c.compress(data)
		if !compressed {
			if !bytes.Equal(stored, data) {
				t.Fatal("uncompressed value changed")
			}
			return
		}
		if len(stored) > len(data)-len(data)/8 {
			t.Fatalf("kept a compression of %d bytes for %d", len(stored), len(data))
		}
		got, err := appendDecompressed([]byte("prefix"), stored)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), data...)) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
