package vfs

import (
	"bytes"
	"os"
	"path/filepath"
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
