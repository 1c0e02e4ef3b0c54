package db

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/vfs"
)

// faultsWhile returns an injector that fails op on files whose names end
// in suffix with err while *on is set, counting the failures in *fired.
func faultsWhile(on *atomic.Bool, fired *atomic.Int64, op vfs.Op, suffix string, err error) vfs.Injector {
	return vfs.InjectorFunc(func(o vfs.Op, name string) error {
		if o == op && on.Load() && strings.Contains(name, suffix) {
			fired.Add(1)
			return err
		}
		return nil
	})
}

// shuffledKey spreads n writes over the key space, so flushes overlap and
// merges rewrite files.
func shuffledKey(i int) []byte { return []byte(fmt.Sprintf("key%06d", i*7919%50000)) }

// TestTransientCompactionReadErrorRetried: a read error in a merge's input
// changes nothing durable, so the merge is retried and writes go on.
func TestTransientCompactionReadErrorRetried(t *testing.T) {
	// The first five reads of SSTs fail: merges of the first files.
	var fired atomic.Int64
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpRead && strings.HasSuffix(name, ".sst") && fired.Add(1) <= 5 {
			return vfs.ErrInjected
		}
		return nil
	}))
	o := recoveryOptions(fs)
	o.SyncWrites = false
	d := mustOpen(t, "/db", o)
	defer d.Close()
	val := bytes.Repeat([]byte{'v'}, 100)
	for i := 0; i < 8000; i++ {
		if err := d.Put(shuffledKey(i), val); err != nil {
			t.Fatalf("put %d (%d read errors injected): %v", i, fired.Load(), err)
		}
	}
	if fired.Load() == 0 {
		t.Fatal("no merge read failed: the test did not test anything")
	}
	// The automatic merges meet the failures and retry: one succeeds.
	eventually(t, 10*time.Second, "an automatic merge after the failures", func() bool {
		m := d.Metrics()
		return fired.Load() >= 5 && m.Compactions > m.TrivialMoves
	})
	// A manual merge reports a failure to its caller rather than retry,
	// should one remain for it.
	var err error
	for try := 0; try < 6; try++ {
		if err = d.Compact(nil, nil); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Compact after the disk recovered: %v", err)
	}
	m := d.Metrics()
	if m.BackgroundErrors == 0 || m.LastBackgroundError == "" || m.Compactions == m.TrivialMoves {
		t.Fatalf("background errors %d (%q), %d merges (%d moves)", m.BackgroundErrors, m.LastBackgroundError, m.Compactions, m.TrivialMoves)
	}
	for i := 0; i < 8000; i += 97 {
		if _, err := d.Get(shuffledKey(i)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}

// TestFlushRetriedAfterDiskFull: a flush that meets a full disk is retried
// in the background; Flush reports the failure, writes go on, and once
// space returns everything is flushed and survives a power cut.
func TestFlushRetriedAfterDiskFull(t *testing.T) {
	var on atomic.Bool
	var fired atomic.Int64
	mem := vfs.NewMem()
	fs := vfs.NewFaultFS(mem, faultsWhile(&on, &fired, vfs.OpCreate, ".sst", vfs.ErrNoSpace))
	o := recoveryOptions(fs)
	o.MaxImmutableMemtables = 8
	d := mustOpen(t, "/db", o)
	defer d.Close()
	on.Store(true)
	n := 0
	for ; n < 600; n++ {
		if err := d.Put(recoveryKey(n), recoveryValue(n)); err != nil {
			t.Fatalf("put %d while the disk is full: %v", n, err)
		}
	}
	if err := d.Flush(); err == nil || fired.Load() == 0 {
		t.Fatalf("Flush on a full disk: %v (%d failures injected)", err, fired.Load())
	}
	on.Store(false)
	within(t, 30*time.Second, "Flush after space returned", func() {
		for {
			if err := d.Flush(); err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	if m := d.Metrics(); m.ImmutableMemtables != 0 || m.BackgroundErrors == 0 {
		t.Fatalf("after the flush: %d immutable memtables, %d background errors", m.ImmutableMemtables, m.BackgroundErrors)
	}
	crashed := mem.CrashClone()
	d2 := mustOpen(t, "/db", recoveryOptions(crashed))
	defer d2.Close()
	checkKeys(t, d2, n, "after a power cut")
}

// TestManifestWriteFailureRecovers: a failed manifest write leaves the
// manifest maybe ending in that edit; the next edit starts a new manifest,
// writes go on, and a power cut at any later point recovers every
// acknowledged write. The edit's files are removed once the new manifest
// no longer names them.
func TestManifestWriteFailureRecovers(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			var on atomic.Bool
			var fired atomic.Int64
			mem := vfs.NewMem()
			inj := vfs.InjectorFunc(func(o vfs.Op, name string) error {
				if o == op && strings.Contains(name, "MANIFEST-") && on.CompareAndSwap(true, false) {
					fired.Add(1)
					return vfs.ErrInjected
				}
				return nil
			})
			d := mustOpen(t, "/db", recoveryOptions(vfs.NewFaultFS(mem, inj)))
			defer d.Close()
			on.Store(true)
			for i := 0; i < 1500; i++ {
				if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
				if i%300 == 299 {
					crashed := mem.CrashClone()
					d2, err := Open("/db", recoveryOptions(crashed))
					if err != nil {
						t.Fatalf("power cut after put %d: %v", i, err)
					}
					checkKeys(t, d2, i+1, fmt.Sprintf("power cut after put %d", i))
					d2.Close()
				}
			}
			if fired.Load() != 1 {
				t.Fatalf("%d manifest failures injected", fired.Load())
			}
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
			if m := d.Metrics(); m.BackgroundErrors == 0 {
				t.Fatal("the failed manifest write was not counted")
			}
			d.waitIdle()
			live := map[string]bool{}
			d.mu.Lock()
			for _, f := range d.mu.version.Files() {
				live[fmt.Sprintf("%06d.sst", f.FileNum)] = true
			}
			d.mu.Unlock()
			for name := range sstNames(t, mem) {
				if !live[name] {
					t.Errorf("%s is in no version: an orphan of the failed edit was left behind", name)
				}
			}
		})
	}
}

// TestWALCreateFailureIsRetryable: when the next WAL cannot be created (a
// full disk), the write that needed it fails but later writes succeed.
func TestWALCreateFailureIsRetryable(t *testing.T) {
	var on atomic.Bool
	var fired atomic.Int64
	fs := vfs.NewFaultFS(vfs.NewMem(), faultsWhile(&on, &fired, vfs.OpCreate, ".log", vfs.ErrNoSpace))
	d := mustOpen(t, "/db", recoveryOptions(fs))
	defer d.Close()
	on.Store(true)
	failed := 0
	for i := 0; fired.Load() == 0; i++ {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			if errors.Is(err, ErrWritesStopped) {
				t.Fatalf("put %d: %v", i, err)
			}
			failed++
		}
	}
	on.Store(false)
	if err := d.Put([]byte("after"), []byte("the disk recovered")); err != nil {
		t.Fatalf("put after the WAL could be created again: %v", err)
	}
	if failed == 0 {
		t.Fatal("no write reported the failure")
	}
}

// TestRejectedEditIsNotWritten: an edit the tree rejects (here, one that
// deletes a file the version does not hold) is checked before it is
// written, so it never reaches the manifest and every later Open works.
func TestRejectedEditIsNotWritten(t *testing.T) {
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(mem))
	for i := 0; i < 100; i++ {
		d.Put(recoveryKey(i), recoveryValue(i))
	}
	d.Flush()
	d.mu.Lock()
	size := d.manifest.Size()
	err := d.logAndApplyLocked(&manifest.VersionEdit{DeletedFiles: []manifest.DeletedFile{{Level: 3, FileNum: 999}}}, nil)
	after := d.manifest.Size()
	d.mu.Unlock()
	if err == nil || after != size {
		t.Fatalf("rejected edit: %v; manifest %d -> %d bytes", err, size, after)
	}
	d.Close()
	d = mustOpen(t, "/db", recoveryOptions(mem.CrashClone()))
	defer d.Close()
	checkKeys(t, d, 100, "reopened")
}

// TestWriteStalledBehindFailingFlush: a writer that waits for a flush the
// disk keeps failing gets an error after a while (not ErrWritesStopped: the
// database goes on), and writes flow again once the disk recovers.
// stallBehindFailingFlush opens a database whose table creations fail
// with ENOSPC while on is set, sets it, and writes until a write fails
// stalled behind the failing flush; it returns that write's error and
// the count of injected failures. The database is closed at the test's
// end.
func stallBehindFailingFlush(t *testing.T) (d *DB, on *atomic.Bool, fired *atomic.Int64, stalledErr error) {
	on, fired = new(atomic.Bool), new(atomic.Int64)
	fs := vfs.NewFaultFS(vfs.NewMem(), faultsWhile(on, fired, vfs.OpCreate, ".sst", vfs.ErrNoSpace))
	o := recoveryOptions(fs)
	o.MaxImmutableMemtables = 1
	d = mustOpen(t, "/db", o)
	t.Cleanup(func() { d.Close() })
	on.Store(true)
	within(t, 20*time.Second, "a write stalled behind a failing flush", func() {
		for i := 0; stalledErr == nil; i++ {
			stalledErr = d.Put(recoveryKey(i), recoveryValue(i))
		}
	})
	return d, on, fired, stalledErr
}

func TestWriteStalledBehindFailingFlush(t *testing.T) {
	d, on, _, stalledErr := stallBehindFailingFlush(t)
	if errors.Is(stalledErr, ErrWritesStopped) || !errors.Is(stalledErr, vfs.ErrNoSpace) {
		t.Fatalf("stalled write: %v, want the flush's error, not ErrWritesStopped", stalledErr)
	}
	on.Store(false)
	within(t, 20*time.Second, "writes after the disk recovered", func() {
		for i := 0; i < 2000; i++ {
			if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
				t.Errorf("put %d after recovery: %v", i, err)
				return
			}
		}
	})
}

// TestStalledWriterGoesOnSoonAfterRecovery: a retry kicked by a stalled
// writer that fails just before the disk recovers is followed within
// retryStalledWait by another, not by the full back-off, so the writer
// goes on instead of failing after a second (it failed before, about one
// run in ten of TestWriteStalledBehindFailingFlush under load).
func TestStalledWriterGoesOnSoonAfterRecovery(t *testing.T) {
	d, on, fired, _ := stallBehindFailingFlush(t)
	// The flush has failed many times in a row: its back-off is long.
	before := fired.Load()
	done := make(chan error, 1)
	go func() { done <- d.Put(recoveryKey(0), recoveryValue(0)) }()
	within(t, 10*time.Second, "the kicked retry to fail", func() {
		for fired.Load() == before {
			time.Sleep(100 * time.Microsecond)
		}
	})
	on.Store(false) // the disk recovers just after that retry failed
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a writer stalled across the recovery: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stalled writer did not return")
	}
}
