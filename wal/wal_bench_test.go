package wal

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkWriteRecord(b *testing.B) {
	p := bytes.Repeat([]byte("v"), 128)
	f := &memFile{}
	w := NewWriter(f)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := w.WriteRecord(p); err != nil {
			b.Fatal(err)
		}
		if len(f.data) > 64<<20 {
			f.data, f.off = f.data[:0], 0
		}
	}
}

func BenchmarkReader(b *testing.B) {
	recs := make([][]byte, 10000)
	for i := range recs {
		recs[i] = bytes.Repeat([]byte{byte(i)}, 128)
	}
	data := writeAll(b, recs)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	f := &memFile{data: data}
	for b.Loop() {
		r := NewReader(f, "bench.log")
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
