package vfs

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"testing"
)

// TestLink checks hard links on the operating system's filesystem and on
// MemFS alike: both names read the same bytes, a link onto an existing
// name fails, and removing the first name leaves the second.
func TestLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   FS
		dir  string
	}{
		{"os", Default(), t.TempDir()},
		{"mem", NewMem(), "/db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, dir := tc.fs, tc.dir
			if err := fsys.MkdirAll(dir); err != nil {
				t.Fatal(err)
			}
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			f, err := fsys.Create(a)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := fsys.Link(a, b); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Link(a, b); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("link onto an existing name: %v, want ErrExist", err)
			}
			if err := fsys.Link(filepath.Join(dir, "missing"), filepath.Join(dir, "c")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("link of a missing file: %v, want ErrNotExist", err)
			}
			if err := fsys.Remove(a); err != nil {
				t.Fatal(err)
			}
			g, err := fsys.Open(b)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			got, err := io.ReadAll(g)
			if err != nil || string(got) != "hello" {
				t.Fatalf("second name reads %q, %v", got, err)
			}
		})
	}
}

// TestMemLinkDurability checks that a link survives a crash only once its
// directory is synced, and that the crash clone keeps the two names on one
// file.
func TestMemLinkDurability(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	m.SyncDir("/")
	f, _ := m.Create("/d/a")
	f.Write([]byte("x"))
	f.Sync()
	f.Close()
	m.SyncDir("/d")
	if err := m.Link("/d/a", "/d/b"); err != nil {
		t.Fatal(err)
	}
	c := m.CrashClone()
	if _, err := c.Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced link survived a crash: %v", err)
	}
	if _, err := c.Stat("/d/a"); err != nil {
		t.Fatalf("synced file lost in a crash: %v", err)
	}
	m.SyncDir("/d")
	c = m.CrashClone()
	if n, err := c.Stat("/d/b"); err != nil || n != 1 {
		t.Fatalf("synced link after a crash: size %d, %v", n, err)
	}
	w, err := c.OpenReadWrite("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("yz"))
	w.Close()
	if n, _ := c.Stat("/d/b"); n != 2 {
		t.Fatalf("the clone's two names are different files: b has %d bytes after a write through a", n)
	}
}
