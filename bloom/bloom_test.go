package bloom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

func build(t testing.TB, keys [][]byte, bits float64) *Filter {
	t.Helper()
	b := NewBuilder()
	for _, k := range keys {
		b.Add(k)
	}
	enc := b.Finish(bits)
	if enc == nil {
		t.Fatalf("Finish(%v) with %d keys returned nil", bits, len(keys))
	}
	f, err := Decode(enc)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return f
}

func TestNoFalseNegatives(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 40), 1, 300).Draw(t, "keys")
		bits := rapid.Float64Range(0.5, 50).Draw(t, "bits")
		b := NewBuilder()
		for _, k := range keys {
			b.Add(k)
		}
		// Builder must copy keys: scribbling over them afterwards is harmless.
		saved := make([][]byte, len(keys))
		for i, k := range keys {
			saved[i] = append([]byte(nil), k...)
			for j := range k {
				k[j] ^= 0xff
			}
		}
		if b.len() != len(keys) {
			t.Fatalf("Len = %d, want %d", b.len(), len(keys))
		}
		f, err := Decode(b.Finish(bits))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		for _, k := range saved {
			if !f.MayContain(k) {
				t.Fatalf("false negative for %q", k)
			}
		}
		wantM := math.Ceil(float64(len(keys)) * bits)
		if got := f.BitsPerKey(); math.Abs(got-wantM/float64(len(keys))) > 1e-9 {
			t.Fatalf("BitsPerKey = %v, want %v", got, wantM/float64(len(keys)))
		}
	})
}

func TestMayContainAllocs(t *testing.T) {
	f := build(t, [][]byte{[]byte("a"), []byte("b")}, 10)
	key := []byte("probe")
	if n := testing.AllocsPerRun(100, func() { f.MayContain(key) }); n != 0 {
		t.Fatalf("MayContain allocates %v times", n)
	}
}

func TestFinishEmpty(t *testing.T) {
	b := NewBuilder()
	if enc := b.Finish(10); enc != nil {
		t.Fatalf("no keys: Finish = %d bytes, want nil", len(enc))
	}
	b.Add([]byte("a"))
	for _, bits := range []float64{0, -1, math.NaN()} {
		if enc := b.Finish(bits); enc != nil {
			t.Fatalf("bits %v: Finish = %d bytes, want nil", bits, len(enc))
		}
	}
}

func TestHashCount(t *testing.T) {
	for _, tc := range []struct {
		bits float64
		k    int
	}{{0.1, 1}, {1, 1}, {5, 3}, {10, 7}, {20, 14}, {100, 30}, {1e9, 30}} {
		f := build(t, [][]byte{[]byte("x")}, tc.bits)
		if f.HashCount() != tc.k {
			t.Errorf("bits %v: k = %d, want %d", tc.bits, f.HashCount(), tc.k)
		}
	}
}

func TestMeasuredFPR(t *testing.T) {
	const n = 100000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%08d", i))
	}
	f := build(t, keys, 10)
	if f.SizeBytes() != headerLen+8*((n*10+63)/64) {
		t.Fatalf("SizeBytes = %d", f.SizeBytes())
	}
	fp := 0
	const probes = 200000
	for i := range probes {
		if f.MayContain([]byte(fmt.Sprintf("absent-%08d", i))) {
			fp++
		}
	}
	got := float64(fp) / probes
	// Theory with k=7, 10 bits: (1-e^(-k/b))^k ≈ 0.0082; e^(-b ln²2) ≈ 0.0082.
	want := FalsePositiveRate(10)
	if got < want/2 || got > want*1.6 {
		t.Fatalf("measured FPR %.5f, theory %.5f", got, want)
	}
	t.Logf("measured FPR %.5f, theory %.5f", got, want)
}

func TestDecodeRejects(t *testing.T) {
	b := NewBuilder()
	b.Add([]byte("a"))
	b.Add([]byte("b"))
	b.Add([]byte("c"))
	enc := b.Finish(10) // m = 30, one word

	mutate := func(f func(p []byte) []byte) []byte {
		return f(append([]byte(nil), enc...))
	}
	cases := map[string][]byte{
		"empty":         nil,
		"short header":  enc[:headerLen-1],
		"truncated":     enc[:len(enc)-1],
		"trailing":      append(append([]byte(nil), enc...), 0),
		"magic":         mutate(func(p []byte) []byte { p[0] = 0; return p }),
		"version":       mutate(func(p []byte) []byte { p[1] = 2; return p }),
		"m zero":        mutate(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[2:], 0); return p }),
		"m huge":        mutate(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[2:], math.MaxUint64); return p }),
		"m larger":      mutate(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[2:], 65); return p }),
		"k zero":        mutate(func(p []byte) []byte { binary.LittleEndian.PutUint32(p[10:], 0); return p }),
		"k big":         mutate(func(p []byte) []byte { binary.LittleEndian.PutUint32(p[10:], 31); return p }),
		"n zero":        mutate(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[14:], 0); return p }),
		"bits past m":   mutate(func(p []byte) []byte { p[len(p)-1] |= 0x80; return p }),
		"header only":   mutate(func(p []byte) []byte { return p[:headerLen] }),
		"m needs words": mutate(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[2:], 1<<36); return p }),
	}
	for name, data := range cases {
		if _, err := Decode(data); !errors.Is(err, base.ErrCorruption) {
			t.Errorf("%s: Decode error = %v, want ErrCorruption", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b := NewBuilder()
	for i := range 50 {
		b.Add([]byte{byte(i), byte(i >> 8)})
		if i%10 == 0 {
			f.Add(b.Finish(float64(i%13 + 1)))
		}
	}
	f.Add([]byte{magic, version})
	f.Add(make([]byte, headerLen+8))
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := Decode(data)
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("error %v does not wrap ErrCorruption", err)
			}
			return
		}
		flt.MayContain(data)
		flt.MayContain(nil)
		if flt.SizeBytes() != len(data) {
			t.Fatalf("SizeBytes %d, len %d", flt.SizeBytes(), len(data))
		}
	})
}

// TestBuilderChunks adds enough keys to fill many chunks, one longer than
// a chunk among them: every key added is in the filter.
func TestBuilderChunks(t *testing.T) {
	for round := range 2 {
		b := NewBuilder()
		var keys [][]byte
		for i := range 60000 {
			keys = append(keys, []byte(fmt.Sprintf("round%d-key-%d", round, i)))
		}
		keys = append(keys, bytes.Repeat([]byte{byte(round)}, builderChunk+100))
		for _, k := range keys {
			b.Add(k)
		}
		if b.len() != len(keys) {
			t.Fatalf("Len %d, want %d", b.len(), len(keys))
		}
		f, err := Decode(b.Finish(10))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !f.MayContain(k) {
				t.Fatalf("round %d: key of %d bytes missing", round, len(k))
			}
		}
	}
}

// TestLargeFilterOffHeap: on Linux a filter of offHeapWords and more keeps
// its bits outside the Go heap, and answers as one on the heap does.
func TestLargeFilterOffHeap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("filters are on the heap here")
	}
	b := NewBuilder()
	const n = 200_000 // 2M bits at 10 bits a key: 250 KB
	key := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("key"), uint64(i)) }
	for i := range n {
		b.Add(key(i))
	}
	enc := b.Finish(10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(enc) // its death would hide the words' birth
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<10 {
		t.Fatalf("decoding a %d-byte filter grew the live heap by %d bytes", len(enc), grown)
	}
	fp := 0
	for i := range n {
		if !f.MayContain(key(i)) {
			t.Fatalf("false negative for key %d", i)
		}
		if f.MayContain(key(n + i)) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.02 {
		t.Fatalf("false-positive rate %.4f at 10 bits a key", rate)
	}
}
