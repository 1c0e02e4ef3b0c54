package wal

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
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

// BenchmarkMappedWriteRecord stores 140-byte records (a 16-byte key, a
// 100-byte value and the batch header) through a mapped log on disk,
// starting a new log every 8 MiB as memtable rotations do. The prefault
// helper and the writeback goroutine run beside it; Close is not timed.
func BenchmarkMappedWriteRecord(b *testing.B) {
	p := bytes.Repeat([]byte("v"), 140)
	fs := vfs.Default()
	dir := b.TempDir()
	n := 0
	open := func() *Writer {
		n++
		f, err := fs.Create(filepath.Join(dir, fmt.Sprintf("%06d.log", n)))
		if err != nil {
			b.Fatal(err)
		}
		w := NewMappedWriter(f)
		if !w.mapped() {
			b.Skip("the filesystem under TempDir cannot map the log")
		}
		return w
	}
	w := open()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := w.WriteRecord(p); err != nil {
			b.Fatal(err)
		}
		if w.Size() >= 8<<20 {
			b.StopTimer()
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if err := fs.Remove(filepath.Join(dir, fmt.Sprintf("%06d.log", n))); err != nil {
				b.Fatal(err)
			}
			w = open()
			b.StartTimer()
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
