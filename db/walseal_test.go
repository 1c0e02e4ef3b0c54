package db

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestUnsyncedWALIsNeverSynced: a WAL that takes only unsynced writes and
// whose memtable is flushed is removed without an fsync, so its bytes need
// never reach the disk; a synced write afterwards still syncs its own WAL,
// and every write reads back after a reopen.
func TestUnsyncedWALIsNeverSynced(t *testing.T) {
	var mu sync.Mutex
	synced := map[string]int{}
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpSync && strings.HasSuffix(name, ".log") {
			mu.Lock()
			synced[name[strings.LastIndex(name, "/")+1:]]++
			mu.Unlock()
		}
		return nil
	}))
	o := smallOpts(fs)
	d := mustOpen(t, "/db", o)
	value := make([]byte, 200)
	const n = 3000 // about ten memtables
	for i := range n {
		if err := d.Put([]byte(fmt.Sprintf("k%05d", i)), value); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(synced) > 0 {
		t.Errorf("WALs synced with only unsynced writes and every memtable flushed: %v", synced)
	}
	mu.Unlock()
	b := d.NewBatch()
	b.Put([]byte("last"), value)
	if err := d.WriteWith(b, WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(synced) == 0 {
		t.Errorf("a synced write synced no WAL")
	}
	mu.Unlock()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, "/db", o)
	defer d.Close()
	for _, k := range []string{"k00000", fmt.Sprintf("k%05d", n-1), "last"} {
		if _, err := d.Get([]byte(k)); err != nil {
			t.Fatalf("Get(%s) after reopen: %v", k, err)
		}
	}
}

// TestSyncedWALSealedAtSwitch: a WAL that took synced writes is sealed,
// synced and closed, as soon as a newer one replaces it, even when
// unsynced writes switched it: the next synced write would otherwise pay
// for the seal's fsyncs. Flushes are held back, so that nothing drops the
// WAL instead.
func TestSyncedWALSealedAtSwitch(t *testing.T) {
	var mu sync.Mutex
	closed := map[string]bool{}
	var logs []string
	release := make(chan struct{})
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		base := name[strings.LastIndex(name, "/")+1:]
		switch {
		case op == vfs.OpCreate && strings.HasSuffix(base, ".sst"):
			<-release
		case op == vfs.OpCreate && strings.HasSuffix(base, ".log"):
			mu.Lock()
			logs = append(logs, base)
			mu.Unlock()
		case op == vfs.OpClose && strings.HasSuffix(base, ".log"):
			mu.Lock()
			closed[base] = true
			mu.Unlock()
		}
		return nil
	}))
	d := mustOpen(t, "/db", smallOpts(fs))
	defer d.Close()
	defer close(release)
	for i := range 5 {
		b := d.NewBatch()
		b.Put([]byte(fmt.Sprintf("a%05d", i)), []byte("synced"))
		if err := d.WriteWith(b, WriteOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Unsynced writes fill the memtable: the one that switches the WAL,
	// and those after it, do not seal the old one.
	logCount := func() int { mu.Lock(); defer mu.Unlock(); return len(logs) }
	for i := 0; logCount() < 2; i++ {
		if err := d.Put([]byte(fmt.Sprintf("k%05d", i)), make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	old := logs[0]
	mu.Unlock()
	eventually(t, 5*time.Second, "the seal of the replaced WAL", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return closed[old]
	})
}
