package db

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/seed-d6fe07da/strata/internal/base"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestFailAtEveryOperation injects a failure at the i-th filesystem
// operation that changes state (create, write, sync, rename, remove, dir
// sync), for i = 0, 1, 2, ... until the workload runs with no failure. Each
// time, the failure must be reported (Open or a write fails, and later
// writes fail too), and after a simulated power cut every write that was
// acknowledged must be present.
func TestFailAtEveryOperation(t *testing.T) {
	for _, mode := range []struct {
		name string
		err  error
	}{{"eio", vfs.ErrInjected}, {"shortwrite", vfs.ErrShortWrite}} {
		t.Run(mode.name, func(t *testing.T) {
			step := int64(1)
			if testing.Short() {
				step = 7
			}
			for i := int64(0); ; i += step {
				if !runFaultWorkload(t, i, mode.err) {
					t.Logf("workload ran clean at operation %d", i)
					return
				}
			}
		})
	}
}

// runFaultWorkload runs the workload failing from operation i on and checks
// recovery; it reports whether the failure fired.
func runFaultWorkload(t *testing.T, i int64, injErr error) bool {
	mem := vfs.NewMem()
	inj := vfs.FailAt(i).WithError(injErr)
	opts := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, SyncWrites: true,
		L0CompactionTrigger: 2, TargetFileSize: 32 << 10, FS: vfs.NewFaultFS(mem, inj)}
	acked := map[string][]byte{}
	val := func(k int) []byte { return bytes.Repeat([]byte{byte(k)}, 100+k%700) }
	// The write that failed may or may not have happened: its error can
	// come after its record was made durable (a failed seal of the WAL
	// before its own).
	var failedKey string
	var failedVal []byte
	d, err := Open("/db", opts)
	if err == nil {
		failed := false
		for k := 0; k < 400; k++ {
			key := []byte(fmt.Sprintf("key%05d", k%300))
			err := d.Put(key, val(k))
			if err != nil {
				if !inj.Fired() {
					t.Fatalf("op %d: Put failed with no injected fault: %v", i, err)
				}
				failed = true
				failedKey, failedVal = string(key), val(k)
				break
			}
			acked[string(key)] = val(k)
		}
		if failed {
			// The DB must refuse writes after a failed write or sync.
			if err := d.Put([]byte("after"), []byte("x")); err == nil {
				t.Fatalf("op %d: write accepted after a failure", i)
			}
		}
		d.Close()
	} else if !inj.Fired() {
		t.Fatalf("op %d: Open failed with no injected fault: %v", i, err)
	}
	fired := inj.Fired()

	// Power cut, then recover on a healthy filesystem.
	crashed := mem.CrashClone()
	opts.FS = crashed
	d, err = Open("/db", opts)
	if err != nil {
		t.Fatalf("op %d: reopen after crash: %v", i, err)
	}
	defer d.Close()
	for k, v := range acked {
		got, err := d.Get([]byte(k))
		if k == failedKey && err == nil && bytes.Equal(got, failedVal) {
			continue
		}
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("op %d (fired %v): acknowledged %s lost: %d bytes, %v", i, fired, k, len(got), err)
		}
	}
	if _, err := d.Get([]byte("after")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("op %d: refused write is present: %v", i, err)
	}
	return fired
}

// sealBlocker holds the syncs of every WAL but the newest, and the
// creation of SSTs (flushes), until blocked is closed, so that a test can
// act while an older WAL's seal (walSeal) is under way.
type sealBlocker struct {
	mu      sync.Mutex
	newest  base.FileNum
	blocked chan struct{} // closed to let the syncs through
}

func newSealBlocker() *sealBlocker { return &sealBlocker{blocked: make(chan struct{})} }

func (b *sealBlocker) MaybeError(op vfs.Op, name string) error {
	ft, num := base.ParseFilename(filepath.Base(name))
	if ft == base.FileTypeTable && op == vfs.OpCreate {
		<-b.blocked
	}
	if ft != base.FileTypeLog {
		return nil
	}
	b.mu.Lock()
	if op == vfs.OpCreate {
		b.newest = max(b.newest, num)
	}
	older := num < b.newest
	b.mu.Unlock()
	if op == vfs.OpSync && older {
		<-b.blocked
	}
	return nil
}

// survivingPrefix fails unless the keys of d are keys [0, n) for some n <=
// written, with their values: what survives a power cut of unsynced
// writes is a prefix of them.
func survivingPrefix(t *testing.T, d *DB, written int) int {
	t.Helper()
	n := -1
	for i := 0; i < written; i++ {
		v, err := d.Get([]byte(fmt.Sprintf("key%06d", i)))
		switch {
		case err == nil && n >= 0:
			t.Fatalf("key %d survived the power cut but key %d before it did not", i, n)
		case err == nil && !bytes.Equal(v, bytes.Repeat([]byte{'v'}, 100)):
			t.Fatalf("key %d: %q", i, v)
		case errors.Is(err, ErrNotFound) && n < 0:
			n = i
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Fatal(err)
		}
	}
	if n < 0 {
		n = written
	}
	return n
}

// sealCutShort writes 100-byte values (keys key%06d) until a memtable
// switch, then the values of after into the newer WAL while the older
// WAL's seal is held up, and cuts the power on a disk that had written
// half of every file's unsynced tail (mid-record), with the newer WAL's
// directory entry durable (ext4 commits its journal every few seconds, so
// it may well be). It returns that disk and the number of writes.
func sealCutShort(t *testing.T, after [][]byte) (*vfs.MemFS, int) {
	t.Helper()
	mem := vfs.NewMem()
	blocker := newSealBlocker()
	rotated := false
	o := &Options{FS: vfs.NewFaultFS(mem, blocker), MemtableSize: 64 << 10, SyncWrites: false}
	o.failpoint = func(name string) {
		if name == fpWALRotated {
			rotated = true
		}
	}
	d, err := Open("/db", o)
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	put := func(v []byte) {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", written)), v); err != nil {
			t.Fatal(err)
		}
		written++
	}
	for !rotated {
		put(bytes.Repeat([]byte{'v'}, 100))
	}
	for _, v := range after {
		put(v)
	}
	if err := mem.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	crashed := mem.CrashCloneTorn(func(_ string, unsynced int) int { return unsynced/2 + 5 })
	if logs := walNames(t, crashed); len(logs) < 2 {
		t.Fatalf("WALs after the crash: %v", logs)
	}
	close(blocker.blocked)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed, written
}

// TestPowerCutDuringWALSeal cuts the power while an older WAL's seal is
// under way and writes go on into the newer one, on a disk that had
// written half of every file's unsynced tail (mid-record). The older WAL
// ends in a torn record and a newer WAL follows it; no newer WAL records
// a sync, so the tear is a crash's, not corruption: the database opens
// with a prefix of the writes.
func TestPowerCutDuringWALSeal(t *testing.T) {
	after := make([][]byte, 200)
	for i := range after {
		after[i] = bytes.Repeat([]byte{'v'}, 100)
	}
	crashed, written := sealCutShort(t, after)
	d, err := Open("/db", &Options{FS: crashed})
	if err != nil {
		t.Fatalf("open after a power cut during a WAL seal: %v", err)
	}
	n := survivingPrefix(t, d, written)
	r := d.Metrics().Recovery
	if n == written || r.DroppedBytes == 0 {
		t.Fatalf("%d of %d writes survived, %d bytes dropped: the crash lost nothing", n, written, r.DroppedBytes)
	}
	d.Close()
	// The newer WAL was emptied with the torn tail: a second recovery
	// finds the same.
	d, err = Open("/db", &Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if again := survivingPrefix(t, d, written); again != n {
		t.Fatalf("second recovery: %d writes, first %d", again, n)
	}
}

// TestSyncedWriteWaitsForOlderSeal: a synced write into a newer WAL is
// acknowledged only once the WALs before it are sealed.
func TestSyncedWriteWaitsForOlderSeal(t *testing.T) {
	blocker := newSealBlocker()
	var rotated atomic.Bool
	o := &Options{FS: vfs.NewFaultFS(vfs.NewMem(), blocker), MemtableSize: 64 << 10, SyncWrites: true}
	o.failpoint = func(name string) {
		if name == fpWALRotated {
			rotated.Store(true)
		}
	}
	d := mustOpen(t, "/db", o)
	defer d.Close()
	var release sync.Once
	defer release.Do(func() { close(blocker.blocked) }) // on failure too, or Close would wait for the seal
	// The put that rotates the memtable goes into the newer WAL.
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			err := d.Put([]byte(fmt.Sprintf("key%06d", i)), bytes.Repeat([]byte{'v'}, 100))
			if err != nil || rotated.Load() {
				done <- err
				return
			}
		}
	}()
	for !rotated.Load() {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("synced write returned (%v) while the older WAL was not sealed", err)
	case <-time.After(200 * time.Millisecond):
	}
	release.Do(func() { close(blocker.blocked) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
