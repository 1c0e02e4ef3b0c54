package db

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

func smallOpts(fs vfs.FS) *Options {
	return &Options{MemtableSize: 64 << 10, CacheSize: 1 << 20, PageSize: 1024, FS: fs, L0CompactionTrigger: 2}
}

func mustOpen(t testing.TB, dir string, o *Options) *DB {
	t.Helper()
	d, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func TestPutGetDeleteReopen(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, smallOpts(nil))
	const n = 5000
	for i := 0; i < n; i++ {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), bytes.Repeat([]byte{byte(i)}, i%300)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 3 {
		if err := d.Delete([]byte(fmt.Sprintf("key%06d", i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(d *DB) {
		t.Helper()
		for i := 0; i < n; i++ {
			v, err := d.Get([]byte(fmt.Sprintf("key%06d", i)))
			if i%3 == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("key %d: want ErrNotFound, got %v", i, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, i%300)) {
				t.Fatalf("key %d: got %d bytes, %v", i, len(v), err)
			}
		}
		it := d.Scan(nil, nil)
		count := 0
		for it.Next() {
			count++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if want := n - (n+2)/3; count != want {
			t.Fatalf("scan: %d keys, want %d", count, want)
		}
	}
	check(d)
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	check(d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	d = mustOpen(t, dir, smallOpts(nil))
	check(d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
