package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

const corruptName = "000077.sst"

// corruptFixture returns a file with every page type: a tree of height >= 2,
// overflow values, range deletions and a filter.
func corruptFixture(t testing.TB) (data []byte, kvs []kv, props Properties) {
	const P = 1024
	for i := 0; i < 3000; i++ {
		var v []byte
		switch {
		case i%500 == 7:
			v = pattern(3*P, i) // overflow, several pages
		case i%500 == 8:
			v = repeated(5*P, 2*P, i) // compressed, still overflowed
		case i%3 == 0:
			v = pattern(i%40, i)
		case i%3 == 1:
			v = repeated(16+i%90, 5, i) // compressed inline
		}
		kind := base.KindSet
		if i%11 == 0 {
			kind, v = base.KindDelete, nil
		}
		kvs = append(kvs, kv{ikey(fmt.Sprintf("key%06d", i), base.SeqNum(i+10), kind), v})
	}
	var rds []rd
	for i := 0; i < 80; i++ {
		rds = append(rds, rd{[]byte(fmt.Sprintf("key%06d", i*30)), []byte(fmt.Sprintf("key%06d", i*30+12)), base.SeqNum(i + 1)})
	}
	f := &memFile{}
	props, err := writeTo(f, WriterOptions{PageSize: P, BloomBitsPerKey: 10, FileName: corruptName, Compression: SnappyCompression}, kvs, rds)
	if err != nil {
		t.Fatal(err)
	}
	if props.Height < 2 || props.ValuePages < 2 || props.ValueDirPages == 0 || props.RangeDelPages < 2 || props.BloomPages < 2 {
		t.Fatalf("fixture lacks a page type: %+v", props)
	}
	return f.data, kvs, props
}

// exercise opens data and reads everything: full iteration with values,
// then a Get of every key. It returns the first error met, and a non-nil
// wrong when any data returned before that error differs from kvs.
func exercise(data []byte, pageSize int, kvs []kv) (err, wrong error) {
	pool := cache.New(cache.Options{Capacity: 64 * int64(pageSize), PageSize: pageSize})
	r, err := Open(&memFile{data: data}, ReaderOptions{Cache: pool, FileNum: 77, FileName: corruptName})
	if err != nil {
		return err, nil
	}
	defer func() {
		r.Close()
		if m := pool.Metrics(); m.Pinned != 0 && wrong == nil {
			wrong = fmt.Errorf("%d pages pinned", m.Pinned)
		}
	}()
	it := r.newIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if v == nil && it.Error() != nil {
			break
		}
		if i >= len(kvs) || base.CompareInternal(it.Key(), kvs[i].key) != 0 || !bytes.Equal(v, kvs[i].value) {
			it.Close()
			return nil, fmt.Errorf("iteration returned wrong entry %d: %s", i, it.Key())
		}
		i++
	}
	if err := it.Close(); err != nil {
		return err, nil
	}
	if i != len(kvs) {
		return nil, fmt.Errorf("iteration stopped at %d of %d without an error", i, len(kvs))
	}
	for _, e := range kvs {
		want, _ := modelGet(kvs, e.key.UserKey, e.key.SeqNum())
		g, err := r.Get(nil, e.key.UserKey, e.key.SeqNum())
		if err != nil {
			return err, nil
		}
		if !g.Found || g.Kind != want.key.Kind() || g.Seq != want.key.SeqNum() || !bytes.Equal(g.Value, want.value) {
			return nil, fmt.Errorf("Get(%s) returned wrong data", e.key)
		}
	}
	return nil, nil
}

func TestCorruptionFixtureIsValid(t *testing.T) {
	data, kvs, _ := corruptFixture(t)
	if err, wrong := exercise(data, 1024, kvs); err != nil || wrong != nil {
		t.Fatal(err, wrong)
	}
}

// TestCorruptionBitFlips flips a bit at several offsets of every page: each
// flip must surface as a corruption error naming the file, never as wrong
// data or a panic.
func TestCorruptionBitFlips(t *testing.T) {
	const P = 1024
	data, kvs, props := corruptFixture(t)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[byte]bool{}
	for p := 0; p < int(props.Pages); p++ {
		seen[data[p*P]] = true
		offsets := []int{0, 1, 2, 3, 4, 7, 8, 9, 20, P - 1, rng.IntN(P), rng.IntN(P)}
		for _, off := range offsets {
			bad := bytes.Clone(data)
			bad[p*P+off] ^= 1 << rng.IntN(8)
			err, wrong := exercise(bad, P, kvs)
			if wrong != nil {
				t.Fatalf("page %d (type %d) offset %d: %v", p, data[p*P], off, wrong)
			}
			if !isCorruption(err, corruptName) {
				t.Fatalf("page %d (type %d) offset %d: err = %v, want corruption naming the file", p, data[p*P], off, err)
			}
			if want := fmt.Sprintf("page %d", p); !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Fatalf("page %d offset %d: error %q does not name the page", p, off, err)
			}
		}
	}
	for _, typ := range []byte{pageTypeLeaf, pageTypeNode, pageTypeBloom, pageTypeRangeDel, pageTypeMeta, pageTypeValue, pageTypeValueDir} {
		if !seen[typ] {
			t.Errorf("fixture has no page of type %d", typ)
		}
	}
}

// TestCorruptionResealed rewrites bytes of each page and then fixes its
// checksum, as a buggy writer would: structure checks must catch what they
// can, and nothing may panic or leak pins.
func TestCorruptionResealed(t *testing.T) {
	const P = 1024
	data, kvs, props := corruptFixture(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for p := 0; p < int(props.Pages); p++ {
		for trial := 0; trial < 8; trial++ {
			bad := bytes.Clone(data)
			page := bad[p*P : (p+1)*P]
			for k := 0; k < 1+trial%3; k++ {
				off := rng.IntN(P)
				if trial%2 == 0 {
					off = 8 + rng.IntN(64) // slots, metadata fields
				}
				page[off] = byte(rng.Uint32())
			}
			binary.LittleEndian.PutUint32(page[4:], pageChecksum(page, uint32(p)))
			err, wrong := exercise(bad, P, kvs)
			if err != nil && !isCorruption(err, corruptName) {
				t.Fatalf("page %d: non-corruption error %v", p, err)
			}
			if wrong != nil && bytes.Contains([]byte(wrong.Error()), []byte("pinned")) {
				t.Fatalf("page %d: %v", p, wrong)
			}
		}
	}
}

func TestCorruptionTruncated(t *testing.T) {
	const P = 1024
	data, kvs, _ := corruptFixture(t)
	for _, size := range []int{0, 1, 100, P - 1, P, P + 1, 2 * P, len(data) - P, len(data) - 1, len(data) + 1, len(data) + P} {
		bad := make([]byte, size)
		copy(bad, data)
		err, wrong := exercise(bad, P, kvs)
		if wrong != nil || !isCorruption(err, corruptName) {
			t.Fatalf("size %d: err = %v, wrong = %v", size, err, wrong)
		}
	}
}

func TestCorruptionPageSizeField(t *testing.T) {
	const P = 1024
	data, kvs, _ := corruptFixture(t)
	for _, ps := range []uint32{0, 512, 1000, 2048, 4096, 1 << 20} {
		bad := bytes.Clone(data)
		binary.LittleEndian.PutUint32(bad[metaPageSizeOff:], ps)
		err, wrong := exercise(bad, P, kvs)
		if wrong != nil || !isCorruption(err, corruptName) {
			t.Fatalf("page size field %d: err = %v, wrong = %v", ps, err, wrong)
		}
		// Read with a cache of the claimed page size, too.
		if validPageSize(int(ps)) {
			err, wrong = exercise(bad, int(ps), kvs)
			if wrong != nil || !isCorruption(err, corruptName) {
				t.Fatalf("page size field %d, cache %d: err = %v, wrong = %v", ps, ps, err, wrong)
			}
		}
	}
}

// TestCorruptionOnDisk runs one flip per page type through real files.
func TestCorruptionOnDisk(t *testing.T) {
	const P = 1024
	data, kvs, props := corruptFixture(t)
	dir := t.TempDir()
	done := map[byte]bool{}
	for p := 0; p < int(props.Pages); p++ {
		typ := data[p*P]
		if done[typ] {
			continue
		}
		done[typ] = true
		bad := bytes.Clone(data)
		bad[p*P+P/2] ^= 0x40
		path := filepath.Join(dir, corruptName)
		f, err := vfs.Default().Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bad, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: P})
		r, err := openWith(path, pool, 77)
		if err == nil {
			err = checkAll(r, kvs)
			r.Close()
		}
		if !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("page %d type %d: %v", p, typ, err)
		}
	}
}

// TestScanCorruption flips bits in every page of the leaf section (leaves
// and overflow pages, which a merge's ScanIter reads without the pool):
// the scan must fail with a corruption error naming the file and page,
// never return wrong data.
func TestScanCorruption(t *testing.T) {
	const P = 1024
	data, kvs, props := corruptFixture(t)
	rng := rand.New(rand.NewPCG(5, 6))
	leafEnd := 1 + int(props.LeafPages+props.OverflowPages)
	for p := 1; p < leafEnd; p++ {
		for _, off := range []int{0, 3, 9, P - 1, rng.IntN(P)} {
			bad := bytes.Clone(data)
			bad[p*P+off] ^= 1 << rng.IntN(8)
			pool := cache.New(cache.Options{Capacity: 64 * P, PageSize: P})
			r, err := Open(&memFile{data: bad}, ReaderOptions{Cache: pool, FileNum: 77, FileName: corruptName})
			if err != nil {
				t.Fatal(err)
			}
			it := r.NewScanIter(3 * P)
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				v := it.Value()
				if v == nil && it.Error() != nil {
					break
				}
				if base.CompareInternal(it.Key(), kvs[i].key) != 0 || !bytes.Equal(v, kvs[i].value) {
					t.Fatalf("page %d offset %d: wrong entry %d", p, off, i)
				}
				i++
			}
			err = it.Close()
			r.Close()
			if !isCorruption(err, corruptName) || !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("page %d", p))) {
				t.Fatalf("page %d (type %d) offset %d: err = %v after %d entries", p, data[p*P], off, err, i)
			}
		}
	}
}

// TestVerifyCatchesEveryPage flips a bit in each page of the file: Open or
// Verify must report a corruption naming the file (a flip in an unused
// byte of the metadata page is the one change nothing reads).
func TestVerifyCatchesEveryPage(t *testing.T) {
	const P = 1024
	data, _, props := corruptFixture(t)
	pool := cache.New(cache.Options{Capacity: 64 * P, PageSize: P})
	r, err := Open(&memFile{data: data}, ReaderOptions{Cache: pool, FileNum: 77, FileName: corruptName})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.Verify(); err != nil || st.Pages != uint64(props.Pages) || st.Entries != props.Entries {
		t.Fatalf("Verify of the good file: %+v, %v (want %d pages)", st, err, props.Pages)
	}
	r.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for p := 0; p < int(props.Pages); p++ {
		bad := bytes.Clone(data)
		bad[p*P+8+rng.IntN(P-8)] ^= 1 << rng.IntN(8)
		if p == 0 {
			bad[p*P+20] ^= 1 // the format version: a field Open reads
		}
		r, err := Open(&memFile{data: bad}, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 64 * P, PageSize: P}), FileNum: 77, FileName: corruptName})
		if err == nil {
			_, err = r.Verify()
			r.Close()
		}
		if !isCorruption(err, corruptName) {
			t.Fatalf("page %d (type %d): %v", p, data[p*P], err)
		}
	}
}

// TestValueStreamLengthNearMax: a metadata page claiming a value stream of
// nearly 2^64 bytes in no value pages (the page count rounded up wrapped
// to 0) is corruption, not a file whose references index past an empty
// directory.
func TestValueStreamLengthNearMax(t *testing.T) {
	const P = 1024
	f := &memFile{}
	if _, err := writeTo(f, WriterOptions{PageSize: P}, []kv{{ikey("a", 1, base.KindSet), []byte("x")}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{math.MaxUint64, math.MaxUint64 - 5, 1} {
		bad := bytes.Clone(f.data)
		binary.LittleEndian.PutUint64(bad[metaValueBytesOff:], n)
		binary.LittleEndian.PutUint32(bad[4:], pageChecksum(bad[:P], 0))
		_, err := Open(&memFile{data: bad}, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 64 * P, PageSize: P}), FileNum: 77, FileName: corruptName})
		if !isCorruption(err, corruptName) {
			t.Fatalf("value stream of %d bytes in no pages: %v", n, err)
		}
	}
}
