package db

import (
	"errors"
	"fmt"
	"testing"

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
