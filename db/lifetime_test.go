package db

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

func sstNames(t *testing.T, fs vfs.FS) map[string]bool {
	names, err := fs.List("/db")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			out[n] = true
		}
	}
	return out
}

// TestIteratorKeepsFilesAlive checks that a long-lived iterator and a
// snapshot keep reading what they saw while merges replace every file, that
// the replaced files stay on disk while the iterator is open, and that they
// are deleted once it closes.
func TestIteratorKeepsFilesAlive(t *testing.T) {
	fs := vfs.NewMem()
	d := mustOpen(t, "/db", &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, FS: fs})
	defer d.Close()
	put := func(gen int) {
		for i := 0; i < 3000; i++ {
			if err := d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprintf("gen%d", gen))); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(1)
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	before := sstNames(t, fs)
	it := d.NewIter(nil)
	snap := d.NewSnapshot()
	if !it.First() {
		t.Fatal("empty")
	}
	put(2)
	d.DeleteRange([]byte("k01000"), []byte("k02000"))
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	d.waitIdle()
	during := sstNames(t, fs)
	for n := range before {
		if !during[n] {
			t.Fatalf("%s deleted while an iterator reads it", n)
		}
	}
	n := 0
	for ok := true; ok; ok = it.Next() {
		if string(it.Value()) != "gen1" {
			t.Fatalf("iterator sees %q at %q", it.Value(), it.Key())
		}
		n++
	}
	if n != 3000 {
		t.Fatalf("iterator saw %d keys", n)
	}
	if v, err := snap.Get([]byte("k01500")); err != nil || string(v) != "gen1" {
		t.Fatalf("snapshot Get: %q %v", v, err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	after := sstNames(t, fs)
	for n := range before {
		if after[n] {
			t.Fatalf("%s still on disk after the last reader closed", n)
		}
	}
	if _, err := d.Get([]byte("k01500")); err != ErrNotFound {
		t.Fatalf("range-deleted key: %v", err)
	}
	if v, _ := d.Get([]byte("k02500")); string(v) != "gen2" {
		t.Fatalf("k02500 = %q", v)
	}
}

// TestIteratorOpenAcrossClose: closing the database gives the buffer
// pool's memory back at once unless a page is pinned; an iterator left
// open pins its leaf, so what it returns stays readable (it would fault
// if the pool were unmapped under it), and moving on fails cleanly.
func TestIteratorOpenAcrossClose(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20})
	for i := range 3000 {
		if err := d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprintf("v%05d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	it := d.NewIter(nil)
	if !it.SeekGE([]byte("k01000")) {
		t.Fatal(it.Err())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	i := 1000
	for ok := true; ok; ok = it.Next() {
		if k, v := string(it.Key()), string(it.Value()); k != fmt.Sprintf("k%05d", i) || v != fmt.Sprintf("v%05d", i) {
			t.Fatalf("after Close, entry %d reads %q = %q", i, k, v)
		}
		i++
	}
	if err := it.Err(); err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("iterator stopped at %d with %v, want nil or ErrClosed", i, err)
	}
	if err := it.Close(); err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("Close: %v", err)
	}
}
