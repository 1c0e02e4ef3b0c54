package sst

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
)

// compressionEntries returns n entries whose values are compressible
// (period 10) or not (random bytes).
func compressionEntries(n int, compressible bool) []kv {
	var kvs []kv
	for i := 0; i < n; i++ {
		v := pattern(100, i)
		if compressible {
			v = repeated(100, 10, i)
		}
		kvs = append(kvs, kv{ikey(fmt.Sprintf("key%06d", i), base.SeqNum(i+1), base.KindSet), v})
	}
	return kvs
}

func writeMem(t *testing.T, opts WriterOptions, kvs []kv) (*memFile, Properties) {
	t.Helper()
	f := &memFile{}
	props, err := writeTo(f, opts, kvs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, props
}

// TestCompressionShrinksCompressibleValues: Snappy files of compressible
// values are much smaller and read back the same; incompressible values
// are stored as they are, so the file is the same size as without.
func TestCompressionShrinksCompressibleValues(t *testing.T) {
	for _, compressible := range []bool{true, false} {
		kvs := compressionEntries(5000, compressible)
		plain, _ := writeMem(t, WriterOptions{PageSize: 4096}, kvs)
		snappy, _ := writeMem(t, WriterOptions{PageSize: 4096, Compression: SnappyCompression}, kvs)
		ratio := float64(len(snappy.data)) / float64(len(plain.data))
		t.Logf("compressible=%v: %d bytes plain, %d with snappy (%.2f)", compressible, len(plain.data), len(snappy.data), ratio)
		if compressible && ratio > 0.5 {
			t.Errorf("compressible values: snappy file is %.2f of the plain one", ratio)
		}
		if !compressible && len(snappy.data) != len(plain.data) {
			t.Errorf("incompressible values: %d bytes with snappy, %d without", len(snappy.data), len(plain.data))
		}
		pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: 4096})
		r, err := Open(snappy, ReaderOptions{Cache: pool, FileNum: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAll(r, kvs); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

// TestCompressedValueCorrupt: a compressed block that passes the page
// checksum (a writer bug, not a disk error) but does not decode is a
// corruption error naming the file and page, from Get and from an
// iterator, and leaves no page pinned.
func TestCompressedValueCorrupt(t *testing.T) {
	const P = 1024
	kvs := []kv{{ikey("a", 1, base.KindSet), repeated(200, 8, 1)}}
	f, _ := writeMem(t, WriterOptions{PageSize: P, Compression: SnappyCompression, FileName: corruptName}, kvs)
	leaf := f.data[P : 2*P]
	e, ok := decodeLeafEntry(leaf, 0)
	if !ok || !e.compressed {
		t.Fatalf("entry not stored compressed: %+v", e)
	}
	// Keep the Snappy header (c8 01: the decoded length 200), break the
	// first tag: a copy before any literal.
	e.value[2] = 0x01
	resealAll(f.data, P)

	r, pool := openCorrupted(t, f, P)
	defer r.Close()
	if _, err := r.Get(nil, []byte("a"), base.MaxSeqNum); !isCorruption(err, corruptName) || !bytes.Contains([]byte(err.Error()), []byte("page 1")) {
		t.Fatalf("Get: %v, want a corruption error naming %s page 1", err, corruptName)
	}
	it := r.newIter()
	if !it.First() {
		t.Fatalf("First: %v", it.Error())
	}
	if v := it.Value(); v != nil || !isCorruption(it.Error(), corruptName) {
		t.Fatalf("Value = %q, err %v; want nil and a corruption error", v, it.Error())
	}
	it.Close()
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned", m.Pinned)
	}
}

// TestWriterRejectsUnknownCompression: the option is validated.
func TestWriterRejectsUnknownCompression(t *testing.T) {
	if err := (WriterOptions{Compression: 9}).validate(); err == nil {
		t.Fatal("Compression 9 accepted")
	}
}

// TestLeafKindChecked: without -tags invariants leaves are not walked when
// loaded, so the accessors check each entry's kind themselves: a resealed
// leaf whose entry claims a range-deletion kind is a corruption error for
// Get and for an iterator, not a value.
func TestLeafKindChecked(t *testing.T) {
	const P = 1024
	f, _ := writeMem(t, WriterOptions{PageSize: P, FileName: corruptName}, []kv{{ikey("a", 5, base.KindSet), []byte("xy")}})
	leaf := f.data[P : 2*P]
	if !bytes.Equal(leaf[1018:], []byte{0x00, 0x81, 0x0a, 0x08, 'x', 'y'}) {
		t.Fatalf("unexpected leaf layout % x", leaf[1018:])
	}
	leaf[1019] = 0x82 // trailer 5<<8 | KindRangeDelete
	resealAll(f.data, P)
	r, _ := openCorrupted(t, f, P)
	defer r.Close()
	if _, err := r.Get(nil, []byte("a"), base.MaxSeqNum); !isCorruption(err, corruptName) {
		t.Fatalf("Get: %v, want a corruption error", err)
	}
	it := r.newIter()
	if it.First() || !isCorruption(it.Error(), corruptName) {
		t.Fatalf("First: valid %v, err %v; want a corruption error", it.Valid(), it.Error())
	}
	it.Close()
}

// TestCopyCompressedValues: a merge copies compressed values between files
// with StoredValue and AddCompressed. Into a Snappy writer the copy is the
// same file byte for byte; into a writer without compression the values
// are decoded; either way every entry reads back.
func TestCopyCompressedValues(t *testing.T) {
	kvs := compressionEntries(3000, true)
	kvs = append(kvs, kv{ikey("zz", 1, base.KindSet), pattern(50, 1)}) // stored plain
	src, _ := writeMem(t, WriterOptions{PageSize: 4096, Compression: SnappyCompression}, kvs)
	pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: 4096})
	r, err := Open(src, ReaderOptions{Cache: pool, FileNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, comp := range []Compression{SnappyCompression, NoCompression} {
		dst := &memFile{}
		w := NewWriter(dst, WriterOptions{PageSize: 4096, Compression: comp})
		it := r.newIter()
		copied := 0
		for ok := it.First(); ok; ok = it.Next() {
			if block, ok := it.StoredValue(); ok {
				err = w.AddCompressed(it.Key(), block)
				copied++
			} else {
				err = w.Add(it.Key(), it.Value())
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		if copied != 3000 {
			t.Fatalf("%v: %d values came out as stored blocks, want 3000", comp, copied)
		}
		if comp == SnappyCompression && !bytes.Equal(dst.data, src.data) {
			t.Fatalf("copy through AddCompressed differs from the original")
		}
		r2, err := Open(dst, ReaderOptions{Cache: pool, FileNum: base.FileNum(10 + comp)})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAll(r2, kvs); err != nil {
			t.Fatalf("%v: %v", comp, err)
		}
		r2.Close()
	}
	w := NewWriter(&memFile{}, WriterOptions{Compression: SnappyCompression})
	if err := w.AddCompressed(ikey("a", 1, base.KindSet), []byte{0xff, 0xff, 0xff, 0xff, 0x7f}); err == nil {
		t.Fatal("AddCompressed accepted a block decoding past the size limit")
	}
	w.Abort()
}

// openCorrupted opens f, damaged behind valid checksums, as corruptName
// with a pool of its own.
func openCorrupted(t *testing.T, f *memFile, pageSize int) (*Reader, *cache.Pool) {
	t.Helper()
	pool := cache.New(cache.Options{Capacity: 64 * int64(pageSize), PageSize: pageSize})
	r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 77, FileName: corruptName})
	if err != nil {
		t.Fatal(err)
	}
	return r, pool
}

// TestCompressorSkipsIncompressible: after a run of values that do not
// compress, the compressor tries one value in probeEvery; once one
// compresses it tries every value again.
func TestCompressorSkipsIncompressible(t *testing.T) {
	c := compressor{kind: SnappyCompression}
	rng := rand.New(rand.NewPCG(1, 1))
	random := func() []byte {
		v := make([]byte, 200)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		return v
	}
	compressible := bytes.Repeat([]byte("abcd"), 50)
	for i := 0; i < missesBeforeSkipping; i++ {
		if _, ok := c.compress(random()); ok {
			t.Fatal("random bytes compressed")
		}
	}
	// Now skipping: a compressible value may be stored as it is until the
	// next probe, which compresses it.
	stored := 0
	for ; stored <= probeEvery; stored++ {
		if _, ok := c.compress(compressible); ok {
			break
		}
	}
	if stored == 0 || stored > probeEvery-1 {
		t.Fatalf("%d compressible values stored plain after the misses, want 1 to %d", stored, probeEvery-1)
	}
	for i := 0; i < 100; i++ {
		if _, ok := c.compress(compressible); !ok {
			t.Fatalf("value %d after a success was not compressed", i)
		}
	}
}
