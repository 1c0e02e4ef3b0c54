package vfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOSFileMapping stores through a mapping of an allocated range, starts
// its writeback, unmaps it and reads the bytes back through the file.
func TestOSFileMapping(t *testing.T) {
	fs := Default()
	path := filepath.Join(t.TempDir(), "mapped")
	f, err := fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, ok := f.(Mappable)
	if !ok {
		t.Fatal("an OS file is not Mappable on Linux")
	}
	if err := m.CheckMapping(); err != nil {
		t.Skipf("the filesystem under TempDir refuses mappings: %v", err)
	}
	n := 2 * os.Getpagesize()
	if err := m.Allocate(0, int64(n)); err != nil {
		t.Skipf("the filesystem under TempDir cannot allocate: %v", err)
	}
	b, err := m.Map(0, n)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("strata"), n/6)
	copy(b, want)
	if err := m.StartWriteback(0, int64(n)); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmap(b); err != nil {
		t.Fatal(err)
	}
	if err := m.StartWriteback(0, int64(n)); err != nil {
		t.Fatalf("writeback after unmap: %v", err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes stored through the mapping did not reach the file")
	}
}

// TestOSFileReadvAt reads a file into buffers of uneven sizes, including
// an empty one, and past its end.
func TestOSFileReadvAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	want := bytes.Repeat([]byte("0123456789"), 1000)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Default().Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vr, ok := f.(VectorReader)
	if !ok {
		t.Fatal("an OS file is not a VectorReader on Linux")
	}
	bufs := [][]byte{make([]byte, 3), nil, make([]byte, 4096), make([]byte, 5000)}
	n, err := vr.ReadvAt(bufs, 7)
	if err != nil || n != 3+4096+5000 {
		t.Fatalf("ReadvAt = %d, %v", n, err)
	}
	if got := slices.Concat(bufs...); !bytes.Equal(got, want[7:7+n]) {
		t.Fatal("ReadvAt read the wrong bytes")
	}
	n, err = vr.ReadvAt([][]byte{make([]byte, 100), make([]byte, 100)}, int64(len(want)-50))
	if n != 50 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadvAt past the end = %d, %v; want 50, io.EOF", n, err)
	}
	many := make([][]byte, 3000) // more than one preadv takes
	for i := range many {
		many[i] = make([]byte, 3)
	}
	if n, err := vr.ReadvAt(many, 0); err != nil || n != 9000 || !bytes.Equal(slices.Concat(many...), want[:9000]) {
		t.Fatalf("ReadvAt into %d buffers = %d, %v", len(many), n, err)
	}
}

// TestOSFileWritevAt writes buffers of uneven sizes, including an empty
// one, at an offset past the end of the file, and more buffers than one
// pwritev takes.
func TestOSFileWritevAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	f, err := Default().Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vw, ok := f.(VectorWriter)
	if !ok {
		t.Fatal("an OS file is not a VectorWriter on Linux")
	}
	bufs := [][]byte{[]byte("abc"), nil, bytes.Repeat([]byte("x"), 4096), bytes.Repeat([]byte("0123456789"), 500)}
	n, err := vw.WritevAt(bufs, 7)
	if err != nil || n != 3+4096+5000 {
		t.Fatalf("WritevAt = %d, %v", n, err)
	}
	many := make([][]byte, 3000) // more than one pwritev takes
	for i := range many {
		many[i] = []byte{byte(i), byte(i >> 8), 'm'}
	}
	end := int64(7 + n)
	if n, err := vw.WritevAt(many, end); err != nil || n != 9000 {
		t.Fatalf("WritevAt of %d buffers = %d, %v", len(many), n, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(append([][]byte{make([]byte, 7)}, append(bufs, many...)...)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("the file does not hold what was written (%d bytes, want %d)", len(got), len(want))
	}
}
