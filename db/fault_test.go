package db

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

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
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("op %d (fired %v): acknowledged %s lost: %d bytes, %v", i, fired, k, len(got), err)
		}
	}
	if _, err := d.Get([]byte("after")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("op %d: refused write is present: %v", i, err)
	}
	return fired
}

// TestPowerCutDuringWALRotation cuts the power just after a memtable
// rotation made a new WAL durable, on a disk that had already written half
// of the old WAL's unsynced tail. The old WAL must have been synced before
// the new one existed, or recovery would find a torn record in a WAL that a
// newer one follows and refuse to open.
func TestPowerCutDuringWALRotation(t *testing.T) {
	mem := vfs.NewMem()
	var crashed *vfs.MemFS
	o := &Options{FS: mem, MemtableSize: 64 << 10, SyncWrites: false}
	o.failpoint = func(name string) {
		if name == fpWALRotated && crashed == nil {
			crashed = mem.CrashCloneTorn(func(_ string, unsynced int) int { return unsynced/2 + 5 }) // mid-record
		}
	}
	d, err := Open("/db", o)
	if err != nil {
		t.Fatal(err)
	}
	var written int
	for i := 0; crashed == nil; i++ {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), bytes.Repeat([]byte{'v'}, 100)); err != nil {
			t.Fatal(err)
		}
		written = i + 1
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open("/db", &Options{FS: crashed})
	if err != nil {
		t.Fatalf("open after a power cut during WAL rotation: %v", err)
	}
	defer d.Close()
	// The rotation synced the old WAL: every write before it survived.
	for i := 0; i < written-1; i++ {
		if _, err := d.Get([]byte(fmt.Sprintf("key%06d", i))); err != nil {
			t.Fatalf("key %d of %d: %v", i, written, err)
		}
	}
}
