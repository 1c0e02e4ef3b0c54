package db

import (
	"bytes"
	"encoding/binary"
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

// TestPutDoesNotAllocate checks that a lone writer's Put does not allocate:
// batches come from a pool and the writer queue reuses its array. (The
// queue used to be resliced from the front, so every Put's append grew a
// new array.) The memtable's arena and B-tree nodes allocate now and then,
// which the average over many Puts rounds away.
func TestPutDoesNotAllocate(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 20})
	defer d.Close()
	key, value := make([]byte, 16), make([]byte, 100)
	i := 0
	put := func() {
		i++
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		if err := d.Put(key, value); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		put() // warm the pools
	}
	if n := testing.AllocsPerRun(2000, put); n >= 1 {
		t.Errorf("Put allocates %.2f times per call, want 0", n)
	}
}
