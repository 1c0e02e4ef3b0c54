package db

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// pooledIterDB returns a database with keys key000000..key001999 spread
// over the memtable and several files, their values compressible.
func pooledIterDB(t *testing.T) *DB {
	t.Helper()
	// No read-triggered folds: the seeks would pay for one, and a
	// compaction running beside testing.AllocsPerRun counts against it.
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10,
		Experimental: Experimental{NoReadCompactions: true}})
	for i := range 2000 {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), compressibleValue(i)); err != nil {
			t.Fatal(err)
		}
		if i == 1500 {
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.waitIdle()
	return d
}

// TestSeekIteratorAllocations: an iterator per seek (a closest-key
// lookup) reuses the memory of closed ones. Before iterators were pooled,
// NewIter + SeekGE + 20 Next + Close allocated 24 times over two runs and
// a memtable.
func TestSeekIteratorAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random")
	}
	d := pooledIterDB(t)
	defer d.Close()
	if runs := runCount(d.loadReadState().v); runs < 2 {
		t.Fatalf("%d runs, want at least 2 for the test to mean anything", runs)
	}
	keys := make([][]byte, 2000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key%06d", i))
	}
	i := 0
	seek := func() {
		i = (i + 7919) % len(keys)
		it := d.NewIter(nil)
		ok := it.SeekGE(keys[i])
		for j := 0; ok && j < 20; j++ {
			ok = it.Next()
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	seek() // fill the pool
	// What is left: the Iterator itself, the memtable's snapshot (a
	// google/btree Clone: three) and its cursor (two).
	if n := testing.AllocsPerRun(500, seek); n > 6 {
		t.Errorf("a seek with a new iterator allocates %.1f times, want at most 6", n)
	}
}

// TestClosedIteratorAfterReuse: once its memory serves another iterator,
// a closed iterator still reports ErrClosed and leaves the other alone.
func TestClosedIteratorAfterReuse(t *testing.T) {
	d := pooledIterDB(t)
	defer d.Close()
	a := d.NewIter(nil)
	if !a.SeekGE([]byte("key000100")) {
		t.Fatal(a.Err())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := d.NewIter(nil) // most likely reuses a's memory
	defer b.Close()
	want := 100
	for ok := b.SeekGE([]byte("key000100")); ok; ok = b.Next() {
		if a.Next() || a.Prev() || a.SeekGE([]byte("key000000")) || a.Valid() || a.Key() != nil || a.Value() != nil {
			t.Fatal("closed iterator moved")
		}
		if got := string(b.Key()); got != fmt.Sprintf("key%06d", want) || !bytes.Equal(b.Value(), compressibleValue(want)) {
			t.Fatalf("at %d: key %q, value %q", want, got, b.Value())
		}
		want++
	}
	if err := b.Err(); err != nil || want != 2000 {
		t.Fatalf("scan ended at %d: %v", want, err)
	}
	if err := a.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
}
