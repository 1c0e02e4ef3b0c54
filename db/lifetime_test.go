package db

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
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
	// The files the tree holds now (those it replaced may still await
	// the deleter).
	before := map[string]bool{}
	d.mu.Lock()
	for _, f := range d.mu.version.Files() {
		before[base.MakeFilename(base.FileTypeTable, f.FileNum)] = true
	}
	d.mu.Unlock()
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
	// The deleter goroutine removes them.
	eventually(t, 5*time.Second, "the replaced files removed", func() bool {
		after := sstNames(t, fs)
		for n := range before {
			if after[n] {
				return false
			}
		}
		return true
	})
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

// eventually polls cond until it holds, failing t after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
	}
}

// TestReaderDoesNotDeleteFiles: the reader that releases the last view of
// replaced files only queues them; closing its iterator returns while their
// removal is stuck (the deleter goroutine waits on the disk, not the
// reader), and the files go once the disk answers.
func TestReaderDoesNotDeleteFiles(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Int64
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpRemove && strings.HasSuffix(name, ".sst") {
			blocked.Add(1)
			<-release
		}
		return nil
	})
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", &Options{FS: vfs.NewFaultFS(mem, inj), MemtableSize: 64 << 10, PageSize: 1024})
	defer d.Close()
	defer close(release)
	put := func(gen string) {
		for i := 0; i < 3000; i++ {
			d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(gen))
		}
	}
	put("gen1")
	d.Flush()
	d.waitIdle()
	it := d.NewIter(nil)
	it.First()
	before := sstNames(t, mem)
	put("gen2") // every key again: the merge below replaces every file
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "closing the iterator that held the replaced files", func() {
		if err := it.Close(); err != nil {
			t.Error(err)
		}
	})
	eventually(t, 5*time.Second, "a removal started by the deleter", func() bool { return blocked.Load() > 0 })
	if n := len(sstNames(t, mem)); n < len(before) {
		t.Fatalf("files removed while removal is blocked: %d of %d left", n, len(before))
	}
}

// TestReadersDoNotWaitForWALSwitch: while a synced write waits on the
// seal of the WAL before its own (the old WAL's fsync), snapshots, gets,
// scans and Metrics go on: the seal holds no lock that readers take across
// its I/O. The flush of the old WAL's memtable is held back meanwhile, so
// that the WAL is sealed rather than dropped.
func TestReadersDoNotWaitForWALSwitch(t *testing.T) {
	var armed atomic.Bool
	var logs atomic.Int32
	var firstLog atomic.Pointer[string]
	entered, release := make(chan struct{}), make(chan struct{})
	flushHeld, releaseFlush := make(chan struct{}), make(chan struct{})
	var holdFlush sync.Once
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		switch {
		case op == vfs.OpCreate && strings.HasSuffix(name, ".log"):
			firstLog.CompareAndSwap(nil, &name)
			logs.Add(1)
		case op == vfs.OpSync && strings.HasSuffix(name, ".sst") && armed.Load():
			holdFlush.Do(func() {
				close(flushHeld)
				<-releaseFlush
			})
		case op == vfs.OpSync && armed.Load() && name == *firstLog.Load():
			armed.Store(false)
			close(entered)
			<-release
		}
		return nil
	})
	d := mustOpen(t, "/db", &Options{FS: vfs.NewFaultFS(vfs.NewMem(), inj), MemtableSize: 64 << 10})
	defer d.Close()
	for i := 0; i < 100; i++ {
		d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte("v"))
	}
	armed.Store(true)
	writerDone := make(chan error, 1)
	go func() {
		for i := 100; logs.Load() < 2; i++ {
			if err := d.Put([]byte(fmt.Sprintf("k%05d", i)), bytes.Repeat([]byte{'v'}, 100)); err != nil || i > 5000 {
				writerDone <- fmt.Errorf("no WAL switch after %d puts: %v", i, err)
				return
			}
		}
		<-flushHeld // the old WAL's memtable is not flushed yet
		b := d.NewBatch()
		b.Put([]byte("synced"), []byte("v"))
		writerDone <- d.WriteWith(b, WriteOptions{Sync: true}) // seals the first WAL
	}()
	select {
	case <-entered: // the synced write is inside the old WAL's fsync
	case err := <-writerDone:
		t.Fatalf("the synced write did not seal the old WAL: %v", err)
	}
	within(t, 5*time.Second, "reads during a WAL seal", func() {
		snap := d.NewSnapshot()
		if _, err := snap.Get([]byte("k00050")); err != nil {
			t.Error(err)
		}
		it := snap.Scan(nil, nil)
		for n := 0; n < 10 && it.Next(); n++ {
		}
		it.Close()
		snap.Close()
		if _, err := d.Get([]byte("k00050")); err != nil {
			t.Error(err)
		}
		_ = d.Metrics()
	})
	close(release)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	<-flushHeld
	close(releaseFlush)
}

// TestTableEntryShutBeforeOpen: a reader that looked a table up just
// before Close shut every table, and opens it after, gets ErrClosed (it
// got a nil reader, and a Get racing Close panicked on it).
func TestTableEntryShutBeforeOpen(t *testing.T) {
	tc := newTableCache(vfs.NewMem(), "/db", nil)
	e := &tableEntry{}
	tc.tables[7] = e
	tc.closeAll()
	got, err := tc.openEntry(7, 0, e)
	if !errors.Is(err, ErrClosed) || got != nil {
		t.Fatalf("opening an entry Close shut: %v, %v; want ErrClosed", got, err)
	}
}
