package db

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestMixedSyncedAndUnsyncedWriters: unsynced writes commit alone while
// synced ones group in the commit queue, with Flush barriers and memtable
// switches among them. Every writer reads its own write back at once, and
// after a power cut every write a writer made up to its last acknowledged
// synced write is there.
func TestMixedSyncedAndUnsyncedWriters(t *testing.T) {
	mem := vfs.NewMem()
	opts := &Options{FS: mem, MemtableSize: 64 << 10}
	d := mustOpen(t, "/db", opts)
	const writers, perWriter = 6, 1000
	key := func(g, i int) []byte { return []byte(fmt.Sprintf("w%d-%04d", g, i)) }
	value := func(g, i int) []byte { return []byte(fmt.Sprintf("value of %d/%d %0100d", g, i, i)) }
	lastSynced := make([]int, writers)
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lastSynced[g] = -1
			b := d.NewBatch()
			for i := 0; i < perWriter; i++ {
				b.Reset()
				b.Put(key(g, i), value(g, i))
				// Writers 0 and 1 sync every write, the others every tenth.
				sync := g < 2 || i%10 == 9
				if err := d.WriteWith(b, WriteOptions{Sync: sync}); err != nil {
					t.Errorf("writer %d, write %d: %v", g, i, err)
					return
				}
				if sync {
					lastSynced[g] = i
				}
				if v, err := d.Get(key(g, i)); err != nil || string(v) != string(value(g, i)) {
					t.Errorf("writer %d reads its write %d back as %q, %v", g, i, v, err)
					return
				}
				if g == writers-1 && i%50 == 0 {
					if err := d.Flush(); err != nil {
						t.Errorf("Flush: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	crashed := mem.CrashClone()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = mustOpen(t, "/db", &Options{FS: crashed, MemtableSize: 64 << 10})
	defer d.Close()
	for g := 0; g < writers; g++ {
		for i := 0; i < perWriter; i++ {
			v, err := d.Get(key(g, i))
			switch {
			case err == nil && string(v) != string(value(g, i)):
				t.Fatalf("writer %d, write %d: value %q", g, i, v)
			case errors.Is(err, ErrNotFound) && i <= lastSynced[g]:
				t.Fatalf("writer %d, write %d: lost, though its write %d was synced", g, i, lastSynced[g])
			case err != nil && !errors.Is(err, ErrNotFound):
				t.Fatal(err)
			}
		}
	}
}
