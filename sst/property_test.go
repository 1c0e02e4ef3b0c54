package sst

import (
	"bytes"
	"path/filepath"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// genUserKey draws keys from a small alphabet so versions of one key and
// keys sharing prefixes are common; 0x00 and 0xff are part of it.
func genUserKey() *rapid.Generator[[]byte] {
	return rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 'a', 'b', 0xff}), 0, 5)
}

// genValue mixes empty, small, near-threshold and overflowing values.
func genValue(P int) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		var n int
		switch rapid.IntRange(0, 9).Draw(t, "valueClass") {
		case 0:
			n = 0
		case 1, 2, 3, 4, 5:
			n = rapid.IntRange(1, 40).Draw(t, "small")
		case 6, 7:
			n = rapid.IntRange(P/4-40, P/4+10).Draw(t, "threshold")
		default:
			n = rapid.IntRange(P/4, 3*P).Draw(t, "large")
		}
		v := pattern(n, rapid.Int().Draw(t, "seed"))
		if period := rapid.IntRange(0, 8).Draw(t, "period"); period > 0 {
			// Repeat a short prefix: compressible, so Snappy keeps it.
			for i := period; i < len(v); i++ {
				v[i] = v[i-period]
			}
		}
		return v
	})
}

func TestPropertyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var fileNum atomic.Uint64
	rapid.Check(t, func(rt *rapid.T) {
		P := rapid.SampledFrom([]int{1024, 2048}).Draw(rt, "pageSize")
		n := rapid.IntRange(0, 400).Draw(rt, "n")
		kvs := make([]kv, 0, n)
		for i := 0; i < n; i++ {
			uk := genUserKey().Draw(rt, "ukey")
			seq := base.SeqNum(rapid.Uint64Range(0, 30).Draw(rt, "seq"))
			kind := base.KindSet
			var v []byte
			if rapid.IntRange(0, 5).Draw(rt, "del") == 0 {
				kind = base.KindDelete
			} else {
				v = genValue(P).Draw(rt, "value")
			}
			kvs = append(kvs, kv{base.MakeInternalKey(uk, seq, kind), v})
		}
		kvs = sortKVs(kvs)
		var rds []rd
		for i := rapid.IntRange(0, 5).Draw(rt, "nrd"); i > 0; i-- {
			a, b := genUserKey().Draw(rt, "rdA"), genUserKey().Draw(rt, "rdB")
			if c := bytes.Compare(a, b); c == 0 {
				continue
			} else if c > 0 {
				a, b = b, a
			}
			rds = append(rds, rd{a, b, base.SeqNum(rapid.Uint64Range(0, 30).Draw(rt, "rdSeq"))})
		}
		bits := rapid.SampledFrom([]float64{0, 4, 10}).Draw(rt, "bits")
		comp := rapid.SampledFrom([]Compression{NoCompression, SnappyCompression}).Draw(rt, "compression")

		num := base.FileNum(fileNum.Add(1))
		path := filepath.Join(dir, base.MakeFilename(base.FileTypeTable, num))
		f, err := vfs.Default().Create(path)
		if err != nil {
			rt.Fatal(err)
		}
		props, err := writeTo(f, WriterOptions{PageSize: P, BloomBitsPerKey: bits, Compression: comp}, kvs, rds)
		f.Close()
		if err != nil {
			rt.Fatal(err)
		}
		defer vfs.Default().Remove(path)
		if props.Entries != uint64(len(kvs)) {
			rt.Fatalf("Entries = %d, want %d", props.Entries, len(kvs))
		}
		if size, _ := vfs.Default().Stat(path); size != int64(props.Pages)*int64(P) {
			rt.Fatalf("file size %d, want %d pages", size, props.Pages)
		}

		frames := rapid.IntRange(16, 64).Draw(rt, "frames")
		pool := cache.New(cache.Options{Capacity: int64(frames * P), PageSize: P})
		r, err := openWith(path, pool, num)
		if err != nil {
			rt.Fatal(err)
		}
		defer r.Close()
		if err := checkAll(r, kvs); err != nil {
			rt.Fatal(err)
		}
		if got := r.Properties(); got.Entries != props.Entries || got.Pages != props.Pages || got.Height != props.Height ||
			base.CompareInternal(got.Smallest, props.Smallest) != 0 || base.CompareInternal(got.Largest, props.Largest) != 0 {
			rt.Fatalf("reader properties %+v, writer %+v", got, props)
		}
		if got, want := len(r.RangeDels()), 0; len(rds) == 0 && got != want {
			rt.Fatalf("%d range dels", got)
		}
		for i := 1; i < len(r.RangeDels()); i++ {
			a, b := r.RangeDels()[i-1], r.RangeDels()[i]
			if c := bytes.Compare(a.Start, b.Start); c > 0 || (c == 0 && a.Seq <= b.Seq) {
				rt.Fatalf("range dels out of order: %v", r.RangeDels())
			}
		}

		// Gets of random keys at random seqnums.
		var buf []byte
		for i := rapid.IntRange(0, 30).Draw(rt, "gets"); i > 0; i-- {
			uk := genUserKey().Draw(rt, "getKey")
			seq := base.SeqNum(rapid.Uint64Range(0, 32).Draw(rt, "getSeq"))
			want, wantFound := modelGet(kvs, uk, seq)
			g, err := r.Get(buf, uk, seq)
			if err != nil {
				rt.Fatal(err)
			}
			if g.Found != wantFound || (g.Found && (g.Kind != want.key.Kind() || g.Seq != want.key.SeqNum() || !bytes.Equal(g.Value, want.value))) {
				rt.Fatalf("Get(%q, %d) = %v %s %d; want %v %s", uk, seq, g.Found, g.Kind, g.Seq, wantFound, want.key)
			}
			buf = g.Value
		}

		// Seeks followed by a few steps.
		it := r.newIter()
		for i := rapid.IntRange(0, 20).Draw(rt, "seeks"); i > 0; i-- {
			uk := genUserKey().Draw(rt, "seekKey")
			var pos int
			var ok bool
			if rapid.Bool().Draw(rt, "ge") {
				pos, ok = modelSeekGE(kvs, uk), it.SeekGE(uk)
			} else {
				pos, ok = modelSeekGE(kvs, uk)-1, it.SeekLT(uk)
			}
			for step := rapid.IntRange(0, 6).Draw(rt, "steps"); ; step-- {
				wantOK := pos >= 0 && pos < len(kvs)
				if ok != wantOK {
					rt.Fatalf("seek %q: valid %v, want %v (pos %d)", uk, ok, wantOK, pos)
				}
				if ok {
					if err := sameEntry(it, kvs[pos]); err != nil {
						rt.Fatalf("seek %q pos %d: %v", uk, pos, err)
					}
				}
				if step == 0 || !ok {
					break
				}
				if rapid.Bool().Draw(rt, "next") {
					pos, ok = pos+1, it.Next()
				} else {
					pos, ok = pos-1, it.Prev()
				}
			}
		}
		if err := it.Close(); err != nil {
			rt.Fatal(err)
		}
		if m := pool.Metrics(); m.Pinned != 0 {
			rt.Fatalf("%d pages pinned after closing iterators", m.Pinned)
		}
	})
}
