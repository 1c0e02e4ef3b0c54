package db

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestWriteWithSync: in a database without SyncWrites, a write with
// WriteOptions.Sync survives a power cut, with every write before it;
// the unsynced writes after it are lost (the crash keeps only synced
// bytes).
func TestWriteWithSync(t *testing.T) {
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", &Options{FS: mem, MemtableSize: 64 << 10})
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%04d", i)) }
	for i := 0; i < 100; i++ {
		if err := d.Put(key(i), []byte("unsynced")); err != nil {
			t.Fatal(err)
		}
	}
	b := d.NewBatch()
	b.Put(key(100), []byte("synced"))
	if err := d.WriteWith(b, WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	for i := 101; i < 150; i++ {
		if err := d.Put(key(i), []byte("unsynced")); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashClone()
	d.Close()

	d = mustOpen(t, "/db", &Options{FS: crashed, MemtableSize: 64 << 10})
	defer d.Close()
	for i := 0; i <= 100; i++ {
		if _, err := d.Get(key(i)); err != nil {
			t.Fatalf("key %d, written before the synced write returned: %v", i, err)
		}
	}
	if _, err := d.Get(key(149)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the last unsynced write survived a crash that kept only synced bytes: %v", err)
	}
}

// TestLargeSyncedWritesShareAnFsync holds the WAL's first fsync while
// three more synced writes of a megabyte queue up, and counts the fsyncs
// that follow: one, for all three. A group was capped at 1 MiB whatever
// its writes' sizes, so each write of a megabyte or more took an fsync of
// its own, and 16 writers of 1 MiB values were fsync-bound.
func TestLargeSyncedWritesShareAnFsync(t *testing.T) {
	var (
		mu      sync.Mutex
		syncs   int
		blocked = make(chan struct{})
		release = make(chan struct{})
	)
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op != vfs.OpSync || !strings.HasSuffix(name, ".log") {
			return nil
		}
		mu.Lock()
		syncs++
		first := syncs == 1
		mu.Unlock()
		if first {
			close(blocked)
			<-release
		}
		return nil
	}))
	d, err := Open("/db", &Options{FS: fs, SyncWrites: true, MemtableSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v := bytes.Repeat([]byte("v"), 1<<20)
	var wg sync.WaitGroup
	put := func(i int) {
		defer wg.Done()
		if err := d.Put([]byte(fmt.Sprintf("k%d", i)), v); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go put(0)
	<-blocked // the first write's fsync is under way
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go put(i)
	}
	for queued := 0; queued < 4; {
		time.Sleep(time.Millisecond)
		d.mu.Lock()
		queued = len(d.mu.writers)
		d.mu.Unlock()
	}
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if syncs != 2 {
		t.Fatalf("4 synced writes of 1 MiB, the last 3 queued together, took %d WAL fsyncs, want 2", syncs)
	}
}

// TestSyncedWritersGatherIntoOneGroup: concurrent synced writers share
// fsyncs in groups of all of them. Without the leader's wait for the rest of
// the last group (gatherLocked), the group woken after an fsync split in
// two: the first writer back led at once, nearly alone, and the others
// queued behind its fsync, so an fsync served about half the writers.
func TestSyncedWritersGatherIntoOneGroup(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpSync && strings.HasSuffix(name, ".log") {
			// A slow disk: the leader may wait 15 ms, and stops after
			// 5 ms without a writer coming (at 20 ms the cutoff, 1.7 ms,
			// was shorter than writers took to come back under the race
			// detector in .ci/run: 5.3 writes per fsync).
			time.Sleep(60 * time.Millisecond)
		}
		return nil
	}))
	d, err := Open("/db", &Options{FS: fs, SyncWrites: true, maxGatherWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := d.Put([]byte(fmt.Sprintf("w%d-%d", g, i)), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	m := d.Metrics()
	if m.SyncedWrites != writers*each {
		t.Fatalf("%d synced writes counted, want %d", m.SyncedWrites, writers*each)
	}
	if per := float64(m.SyncedWrites) / float64(m.WALSyncs); per < 6 {
		t.Fatalf("%d synced writes from %d writers took %d fsyncs (%.1f each), want 6 or more each",
			m.SyncedWrites, writers, m.WALSyncs, per)
	}
	t.Logf("%d synced writes in %d fsyncs", m.SyncedWrites, m.WALSyncs)
}

// TestGatherEndsWhenNoWriterComes: a leader that waits for the writers of
// the last group stops waiting once none has come for a third of its
// wait, so writers that do other work between their writes do not cost
// each leader the whole wait. The last group and fsync are set by hand:
// 8 writers and an fsync of 400 ms give a wait of 100 ms (the test's
// bound), and a lone writer should wait about 33 ms of it.
func TestGatherEndsWhenNoWriterComes(t *testing.T) {
	d, err := Open("/db", &Options{FS: vfs.NewMem(), SyncWrites: true, maxGatherWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Put([]byte("first"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.mu.lastGroup = 8
	d.mu.Unlock()
	d.lastSyncNanos.Store(int64(400 * time.Millisecond))
	start := time.Now()
	if err := d.Put([]byte("alone"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond || took > 80*time.Millisecond {
		t.Fatalf("a lone synced write after a group of 8 took %v, want about 33 ms (a third of the 100 ms wait)", took)
	}
}

// TestWriteBehindPutDoesNotWaitForTheWAL: with WALWriteBehind, puts return
// while the WAL's write calls are held, and every one is there after
// Close; without it, a put waits for its write call.
func TestWriteBehindPutDoesNotWaitForTheWAL(t *testing.T) {
	for _, behind := range []bool{true, false} {
		t.Run(fmt.Sprintf("behind=%v", behind), func(t *testing.T) {
			release := make(chan struct{}) // the WAL's writes wait for it
			fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
				if op == vfs.OpWrite && strings.HasSuffix(name, ".log") {
					<-release
				}
				return nil
			}))
			d := mustOpen(t, "/db", &Options{FS: fs, WALWriteBehind: behind, MemtableSize: 64 << 20})
			key := func(i int) []byte { return []byte(fmt.Sprintf("key%04d", i)) }
			done := make(chan error, 1)
			go func() {
				for i := 0; i < 200; i++ {
					if err := d.Put(key(i), bytes.Repeat([]byte{'v'}, 1000)); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if !behind {
					t.Fatal("puts returned while their WAL writes were held")
				}
				if err != nil {
					t.Fatal(err)
				}
				close(release)
			case <-time.After(time.Second):
				if behind {
					t.Fatal("puts waited for the WAL's write calls")
				}
				close(release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d = mustOpen(t, "/db", &Options{FS: fs})
			defer d.Close()
			for i := 0; i < 200; i++ {
				if _, err := d.Get(key(i)); err != nil {
					t.Fatalf("key %d: %v", i, err)
				}
			}
		})
	}
}

// TestWriteBehindNotWithSyncWrites: with SyncWrites every write waits for
// its record, so the WAL is not written behind (synced puts from one
// goroutine ran 0.85× as fast through the queue).
func TestWriteBehindNotWithSyncWrites(t *testing.T) {
	for _, sync := range []bool{false, true} {
		d := mustOpen(t, "/db", &Options{FS: vfs.NewMem(), WALWriteBehind: true, SyncWrites: sync})
		d.mu.Lock()
		behind := d.mu.log.WritesBehind()
		d.mu.Unlock()
		if behind == sync {
			t.Fatalf("SyncWrites %v: WAL written behind: %v", sync, behind)
		}
		d.Close()
	}
}
