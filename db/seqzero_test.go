package db

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// maxFileSeq returns the largest seqnum any SST of d's current version
// records, and the number of SSTs.
func maxFileSeq(d *DB) (base.SeqNum, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var max base.SeqNum
	n := 0
	for _, runs := range d.mu.version.Levels {
		for _, r := range runs {
			for _, f := range r.Files {
				max = base.SeqNum(maxU64(uint64(max), uint64(f.LargestSeq)))
				n++
			}
		}
	}
	return max, n
}

func maxU64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// TestBottommostCompactionZeroesSeqNums: a merge into the bottom of the tree
// writes the surviving SETs at seqnum 0 when no reader needs their seqnums,
// keeps the seqnums a snapshot still distinguishes, and reads stay right
// through both, before and after a reopen.
func TestBottommostCompactionZeroesSeqNums(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 256 << 10}
	d := mustOpen(t, dir, opts)
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%05d", i)) }
	val := func(round, i int) []byte { return []byte(fmt.Sprintf("value %d of %d", round, i)) }
	const n = 2000
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			if err := d.Put(key(i), val(round, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < n; i += 10 {
		d.Delete(key(i))
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	if seq, files := maxFileSeq(d); seq != 0 || files == 0 {
		t.Fatalf("after a full merge with no snapshot: largest seqnum %d over %d files, want 0", seq, files)
	}
	check := func(get func([]byte) ([]byte, error), round int, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			v, err := get(key(i))
			switch {
			case i%10 == 0 && err != ErrNotFound:
				t.Fatalf("%s: deleted key %d: %q, %v", what, i, v, err)
			case i%10 != 0 && (err != nil || !bytes.Equal(v, val(round, i))):
				t.Fatalf("%s: key %d = %q, %v; want %q", what, i, v, err, val(round, i))
			}
		}
	}
	check(d.Get, 1, "zeroed")

	// A snapshot pins round 1; round 2 overwrites half the keys. The
	// merge may zero round 1 (the snapshot sees it either way) but must
	// keep round 2's seqnums, newer than the snapshot.
	snap := d.NewSnapshot()
	for i := 1; i < n; i += 2 {
		if i%10 != 0 {
			d.Put(key(i), val(2, i))
		}
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	if seq, _ := maxFileSeq(d); seq == 0 {
		t.Fatal("merge under a snapshot zeroed seqnums newer than the snapshot")
	}
	check(snap.Get, 1, "snapshot")
	latest := func(k []byte) ([]byte, error) {
		v, err := d.Get(k)
		var i int
		fmt.Sscanf(string(k), "key%05d", &i)
		if err == nil && i%2 == 1 && bytes.Equal(v, val(2, i)) {
			return val(1, i), nil // round 2 as expected: report it as round 1 for check
		}
		if i%2 == 1 && err == nil {
			return nil, fmt.Errorf("odd key %d not overwritten: %q", i, v)
		}
		return v, err
	}
	check(latest, 1, "latest")
	snap.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, dir, opts)
	defer d.Close()
	check(latest, 1, "after reopen")
	// New writes after reopen still shadow the zeroed versions.
	d.Put(key(3), []byte("newest"))
	if v, err := d.Get(key(3)); err != nil || string(v) != "newest" {
		t.Fatalf("write after reopen: %q, %v", v, err)
	}
}
