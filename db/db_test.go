package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

func smallOpts(fs vfs.FS) *Options {
	return &Options{MemtableSize: 64 << 10, CacheSize: 1 << 20, PageSize: 1024, FS: fs, L0CompactionTrigger: 2}
}

// mustOpen opens dir and arranges for the test to end with a check of the
// database (DB.Check): on d itself if the test left it open, else on a
// reopening of the directory when it lives on the OS or an in-memory
// filesystem. A test that damages files on purpose calls damaged(t).
func mustOpen(t testing.TB, dir string, o *Options) *DB {
	t.Helper()
	d, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { finalCheck(t, d, dir, o) })
	return d
}

// damagedTests holds the tests that damage database files on purpose.
var damagedTests sync.Map

// damaged exempts t from the check its databases get at the end.
func damaged(t testing.TB) { damagedTests.Store(t, true) }

// checkDB fails t if d.Check finds a problem.
func checkDB(t testing.TB, d *DB) CheckReport {
	t.Helper()
	rep, err := d.Check()
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

func finalCheck(t testing.TB, d *DB, dir string, o *Options) {
	t.Helper()
	if _, ok := damagedTests.Load(t); ok || t.Failed() {
		return
	}
	if !d.isClosed() {
		checkDB(t, d)
		return
	}
	c := o.ensureDefaults()
	switch c.FS.(type) {
	case *vfs.MemFS:
	default:
		if c.FS != vfs.Default() {
			return // a fault-injecting filesystem may still fail
		}
	}
	c.failpoint = nil
	d, err := Open(dir, c)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return // another handle of the test's is still open
		}
		t.Fatalf("final check: reopen: %v", err)
	}
	defer d.Close()
	checkDB(t, d)
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

// TestPageSizeKeptAcrossOpens: a database keeps the page size it was
// created with, whatever later Opens ask for, so its files stay readable
// and the keys in its WAL stay within its limit.
func TestPageSizeKeptAcrossOpens(t *testing.T) {
	fs := vfs.NewMem()
	d := mustOpen(t, "/small", &Options{FS: fs, PageSize: 1024})
	d.Put([]byte("flushed"), []byte("v"))
	d.Flush()
	d.Close()
	d = mustOpen(t, "/small", &Options{FS: fs}) // default 4096
	if d.MaxKeySize() != 224 {
		t.Fatalf("MaxKeySize %d after reopening a 1 KiB-page database", d.MaxKeySize())
	}
	if v, err := d.Get([]byte("flushed")); err != nil || string(v) != "v" {
		t.Fatalf("Get: %q, %v", v, err)
	}
	checkDB(t, d)
	d.Close()

	// Created with 4 KiB pages, a 900-byte key only in the WAL, reopened
	// asking for 1 KiB pages: the database keeps 4 KiB and can flush it.
	d = mustOpen(t, "/big", &Options{FS: fs})
	long := bytes.Repeat([]byte{'k'}, 900)
	if err := d.Put(long, []byte("v")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = mustOpen(t, "/big", &Options{FS: fs, PageSize: 1024})
	defer d.Close()
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(long); err != nil || string(v) != "v" {
		t.Fatalf("Get of the long key: %q, %v", v, err)
	}
}
