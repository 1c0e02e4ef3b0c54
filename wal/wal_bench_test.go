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

// BenchmarkMappedWriteRecord appends records through a mapped log on
// disk, starting a new log every 8 MiB as memtable rotations do: 140 bytes
// (a 16-byte key, a 100-byte value and the batch header) stored through
// the mapping, and 1 KiB to 1 MiB written with a write call. The prefault
// helper and the writeback goroutine run beside it; Close is not timed.
func BenchmarkMappedWriteRecord(b *testing.B) {
	for _, size := range []int{140, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("record=%d", size), func(b *testing.B) {
			benchmarkMappedWriteRecord(b, size)
		})
	}
}

func benchmarkMappedWriteRecord(b *testing.B, size int) {
	p := bytes.Repeat([]byte("v"), size)
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
	b.ReportAllocs()
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
