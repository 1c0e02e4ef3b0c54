package db

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// The tests in this file are ways a careless caller or an unlucky moment
// might hang, panic or strand a database; each must be harmless.

// within fails the test if fn does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
	}
}

// TestFlushDuringSyncedPut: a Flush that starts while a Put is inside its
// WAL fsync must return once the Put is done, however the queue drains
// .
func TestFlushDuringSyncedPut(t *testing.T) {
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpSync && strings.HasSuffix(name, ".log") && armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	})
	d := mustOpen(t, "/db", &Options{FS: vfs.NewFaultFS(vfs.NewMem(), inj), SyncWrites: true})
	defer d.Close()
	armed.Store(true)
	putErr, flushErr := make(chan error, 1), make(chan error, 1)
	go func() { putErr <- d.Put([]byte("k"), []byte("v")) }()
	<-entered
	go func() { flushErr <- d.Flush() }()
	time.Sleep(20 * time.Millisecond) // let Flush wait behind the Put
	close(release)
	if err := <-putErr; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-flushErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush still blocked 5 s after the Put returned")
	}
	if v, err := d.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get: %q, %v", v, err)
	}
}

// TestFlushUnderSteadyWrites: Flush returns while other goroutines keep the
// commit queue full; it does not wait for the queue to be empty.
func TestFlushUnderSteadyWrites(t *testing.T) {
	d := mustOpen(t, "/db", &Options{FS: vfs.NewMem()})
	defer d.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := d.Put([]byte(fmt.Sprintf("g%d-%08d", g, i)), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		within(t, 10*time.Second, "Flush under writers", func() {
			if err := d.Flush(); err != nil {
				t.Error(err)
			}
		})
	}
	stop.Store(true)
	wg.Wait()
}

// TestBatchKeyLimitCheckedByWrite: a key over this database's limit is
// refused by Write whoever made the batch (a zero Batch, or one from a
// database with larger pages): in the WAL it would fail every flush and
// every reopen.
func TestBatchKeyLimitCheckedByWrite(t *testing.T) {
	fs := vfs.NewMem()
	o := &Options{FS: fs, PageSize: 1024}
	d := mustOpen(t, "/db", o)
	big := mustOpen(t, "/big", &Options{FS: fs, PageSize: 4096})
	defer big.Close()
	long := bytes.Repeat([]byte{'k'}, d.MaxKeySize()+1)

	var zero Batch
	if err := zero.Put(long, []byte("v")); err != nil {
		t.Fatal(err)
	}
	foreign := big.NewBatch()
	if err := foreign.Put(long, []byte("v")); err != nil {
		t.Fatal(err)
	}
	var rangeDel Batch
	if err := rangeDel.DeleteRange([]byte("a"), long); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*Batch{"zero batch": &zero, "other database's batch": foreign, "range delete": &rangeDel} {
		if err := d.Write(b); !errors.Is(err, ErrKeyTooLarge) {
			t.Fatalf("%s: Write = %v, want ErrKeyTooLarge", name, err)
		}
	}
	ok := bytes.Repeat([]byte{'k'}, d.MaxKeySize())
	var fits Batch
	fits.Put(ok, []byte("v"))
	if err := d.Write(&fits); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatalf("Flush after refused writes: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, "/db", o)
	defer d.Close()
	if _, err := d.Get(long); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused key: %v", err)
	}
	if _, err := d.Get(ok); err != nil {
		t.Fatal(err)
	}
}

// TestCallsRacingClose: Flush, Compact, writes, gets and scans racing Close
// return nil or an error wrapping ErrClosed; none panics.
func TestCallsRacingClose(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := 0; round < rounds; round++ {
		d := mustOpen(t, "/db", &Options{FS: vfs.NewMem(), MemtableSize: 64 << 10, SyncWrites: round%2 == 0})
		for i := 0; i < 2000; i++ {
			d.Put([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{'v'}, 64))
		}
		d.Flush()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrClosed) {
				errs <- fmt.Errorf("%s: %w", what, err)
			}
		}
		start := make(chan struct{})
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < 200; i++ {
					switch g {
					case 0:
						check("Flush", d.Flush())
					case 1:
						check("Compact", d.Compact(nil, nil))
					case 2:
						check("Put", d.Put([]byte(fmt.Sprintf("p%06d", i)), []byte("v")))
					case 3:
						_, err := d.Get([]byte(fmt.Sprintf("k%06d", i*7)))
						if !errors.Is(err, ErrNotFound) {
							check("Get", err)
						}
					case 4:
						it := d.Scan(nil, nil)
						for n := 0; n < 50 && it.Next(); n++ {
						}
						check("Scan", it.Close())
					case 5:
						check("DeleteRange", d.DeleteRange([]byte("k000100"), []byte("k000200")))
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		within(t, 30*time.Second, "Close racing calls", func() { d.Close() })
		within(t, 30*time.Second, "calls racing Close", wg.Wait)
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestOpenKeepsOtherFiles: Open removes only files whose names Strata
// makes.
func TestOpenKeepsOtherFiles(t *testing.T) {
	fs := vfs.NewMem()
	d := mustOpen(t, "/db", &Options{FS: fs})
	d.Put([]byte("a"), []byte("1"))
	d.Close()
	for _, name := range []string{"user-export.tmp", "notes.txt", "CURRENT.tmp", "backup.log", "1.sst"} {
		f, err := fs.Create("/db/" + name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("mine"))
		f.Close()
	}
	d = mustOpen(t, "/db", &Options{FS: fs})
	d.Close()
	for _, name := range []string{"user-export.tmp", "notes.txt", "CURRENT.tmp", "backup.log", "1.sst"} {
		if _, err := fs.Stat("/db/" + name); err != nil {
			t.Fatalf("Open removed the user's %s: %v", name, err)
		}
	}
}

// TestWriteMisuse: Write(nil) is an error, and one Batch written from two
// goroutines at once fails at worst that batch's writes, never wedging the
// database.
func TestWriteMisuse(t *testing.T) {
	d := mustOpen(t, "/db", &Options{FS: vfs.NewMem(), SyncWrites: true})
	if err := d.Write(nil); err == nil {
		t.Fatal("Write(nil) succeeded")
	}
	b := d.NewBatch()
	b.Put([]byte("shared"), []byte("v"))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				d.Write(b) // nil or ErrBatchInUse
			}
		}()
	}
	within(t, 30*time.Second, "writers sharing a batch", wg.Wait)
	within(t, 10*time.Second, "a Put after the shared batch", func() {
		if err := d.Put([]byte("after"), []byte("v")); err != nil {
			t.Error(err)
		}
	})
	within(t, 10*time.Second, "Close", func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
}

// TestOversizedCacheRefused: a CacheSize larger than the machine can hold
// is a clear error from Open, not a panic or the out-of-memory killer
// .
func TestOversizedCacheRefused(t *testing.T) {
	for _, size := range []int64{math.MaxInt64, 1 << 50} {
		_, err := Open("/db", &Options{FS: vfs.NewMem(), CacheSize: size})
		if err == nil || !strings.Contains(err.Error(), "CacheSize") {
			t.Fatalf("CacheSize %d: Open = %v, want an error naming CacheSize", size, err)
		}
	}
}

// TestDeleteRangeNilEnd: a nil end is unbounded, as for Scan. The
// tombstone survives a flush, a merge and a reopen, and a key written after
// it is not deleted.
func TestDeleteRangeNilEnd(t *testing.T) {
	fs := vfs.NewMem()
	o := &Options{FS: fs, PageSize: 1024}
	d := mustOpen(t, "/db", o)
	long := bytes.Repeat([]byte{0xff}, d.MaxKeySize())
	keys := [][]byte{[]byte("a"), []byte("m"), []byte("z"), long}
	for _, k := range keys {
		d.Put(k, []byte("v"))
	}
	d.Flush()
	if err := d.DeleteRange([]byte("m"), nil); err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch()
	b.DeleteRange([]byte("zz"), nil) // nothing left to delete: still fine
	if err := d.Write(b); err != nil {
		t.Fatal(err)
	}
	d.Put([]byte("q"), []byte("new"))
	want := func(stage string) {
		t.Helper()
		var got []string
		it := d.Scan(nil, nil)
		for it.Next() {
			got = append(got, string(it.Key()[:1]))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != "a,q" {
			t.Fatalf("%s: keys %v, want [a q]", stage, got)
		}
		if _, err := d.Get(long); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: longest key: %v", stage, err)
		}
	}
	want("memtable")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	want("flushed")
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	want("compacted")
	d.Close()
	d = mustOpen(t, "/db", o)
	defer d.Close()
	want("reopened")
	if err := d.DeleteRange(nil, nil); err != nil {
		t.Fatal(err)
	}
	if it := d.Scan(nil, nil); it.Next() {
		t.Fatalf("DeleteRange(nil, nil) left %q", it.Key())
	}
}

// TestReadsRacingCloseSayClosed: a Get or scan whose file Close shuts under
// it returns an error wrapping ErrClosed, not the file's "already closed".
func TestReadsRacingCloseSayClosed(t *testing.T) {
	var slow atomic.Bool
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpRead && slow.Load() && strings.HasSuffix(name, ".sst") {
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	})
	d := mustOpen(t, "/db", &Options{FS: vfs.NewFaultFS(vfs.NewMem(), inj), CacheSize: 64 << 10, PageSize: 1024})
	for i := 0; i < 5000; i++ {
		d.Put([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{'v'}, 100))
	}
	d.Flush()
	slow.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				if g%2 == 0 {
					_, err = d.Get([]byte(fmt.Sprintf("k%06d", (i*997+g)%5000)))
				} else {
					it := d.Scan(nil, nil)
					for it.Next() {
					}
					err = it.Close()
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						errs <- err
					}
					return
				}
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	d.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("read racing Close: %v, want an error wrapping ErrClosed", err)
	}
}

// TestIteratorsPinningThePoolDoNotStopWrites: a goroutine that keeps more
// iterators open than the buffer pool has frames, then writes enough to
// need merges, must not wait on itself: merges that needed frames would
// stop, level 0 would reach its stop trigger and the writer would wait for
// ever.
func TestIteratorsPinningThePoolDoNotStopWrites(t *testing.T) {
	o := &Options{FS: vfs.NewMem(), PageSize: 1024, CacheSize: 16 * 1024, MemtableSize: 64 << 10,
		L0CompactionTrigger: 2, L0SlowdownTrigger: 3, L0StopTrigger: 4}
	d := mustOpen(t, "/db", o)
	defer d.Close()
	val := bytes.Repeat([]byte{'v'}, 100)
	for i := 0; i < 3000; i++ {
		d.Put([]byte(fmt.Sprintf("k%06d", i)), val)
	}
	d.Flush()
	var its []*Iterator
	defer func() {
		for _, it := range its {
			it.Close()
		}
	}()
	for i := 0; i < 40; i++ {
		it := d.NewIter(nil)
		if !it.SeekGE([]byte(fmt.Sprintf("k%06d", i*70))) {
			it.Close() // the pool is full: every frame is pinned
			break
		}
		its = append(its, it)
	}
	if m := d.Metrics().Cache; m.Pinned < m.Frames {
		t.Fatalf("%d of %d frames pinned: the test needs them all", m.Pinned, m.Frames)
	}
	within(t, 60*time.Second, "writes while iterators pin every frame", func() {
		for i := 0; i < 20000; i++ {
			if err := d.Put([]byte(fmt.Sprintf("w%06d", i*7919%20000)), val); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if m := d.Metrics(); m.Compactions == m.TrivialMoves {
		t.Fatalf("no merge ran: %v", m)
	}
}

// TestCloseBesideStalledWriter: Close returns while an unsynced write is
// stalled, waiting for flushes that keep failing, and the write fails.
// The background goroutines stop once no write is left in flight: they
// once stopped with the stalled write still waiting for them to retry,
// and Close waited for that write for ever.
func TestCloseBesideStalledWriter(t *testing.T) {
	noTables := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") {
			return errors.New("injected: no tables")
		}
		return nil
	})
	d := mustOpen(t, "/db", &Options{FS: vfs.NewFaultFS(vfs.NewMem(), noTables), MemtableSize: 64 << 10})
	written := make(chan error, 1)
	go func() {
		value := make([]byte, 1000)
		for i := 0; ; i++ {
			if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), value); err != nil {
				written <- err
				return
			}
		}
	}()
	for {
		d.mu.Lock()
		stalled := d.mu.stalledWriters > 0
		d.mu.Unlock()
		if stalled {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for ever beside a stalled write")
	}
	if err := <-written; err == nil {
		t.Fatal("the stalled write succeeded")
	}
}
