package db

import (
	"bytes"
	"fmt"
	"testing"
)

// compressibleValue is 100 bytes: 20 distinct ones repeated five times.
func compressibleValue(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("v%019d", i)), 5)
}

// TestCompressionMixedFiles writes half the keys without compression and
// half with it, merging the two kinds of SST together, and reads every key
// back through Get and a scan after each reopen: a database may hold files
// written either way, whatever its current setting.
func TestCompressionMixedFiles(t *testing.T) {
	dir := t.TempDir()
	const n = 4000
	var sizes []uint64
	for round, comp := range []Compression{NoCompression, SnappyCompression, NoCompression} {
		d := mustOpen(t, dir, &Options{Compression: comp, MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 256 << 10, L0CompactionTrigger: 2})
		for i := round; i < n; i += 2 {
			if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), compressibleValue(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Compact(nil, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if i%2 == 1 && round == 0 {
				continue // not written yet
			}
			v, err := d.Get([]byte(fmt.Sprintf("key%06d", i)))
			if err != nil || !bytes.Equal(v, compressibleValue(i)) {
				t.Fatalf("round %d (%s): Get(%d) = %q, %v", round, comp, i, v, err)
			}
		}
		count := 0
		it := d.NewIter(nil)
		for ok := it.First(); ok; ok = it.Next() {
			var i int
			fmt.Sscanf(string(it.Key()), "key%06d", &i)
			if !bytes.Equal(it.Value(), compressibleValue(i)) {
				t.Fatalf("round %d: scan value of %q differs", round, it.Key())
			}
			count++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if want := n / 2 * min(round+1, 2); count != want {
			t.Fatalf("round %d: scan saw %d keys, want %d", round, count, want)
		}
		var total uint64
		for _, l := range d.Metrics().Levels {
			total += l.Bytes
		}
		sizes = append(sizes, total)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Round 1 compacted everything with Snappy: 4000 values of 100 bytes in
	// well under the 2000 uncompressed ones of round 0 plus the new half.
	if sizes[1] >= sizes[0] {
		t.Errorf("after the snappy compaction %d bytes of SSTs, before %d with half the keys", sizes[1], sizes[0])
	}
	t.Logf("SST bytes per round (none, snappy, none): %v", sizes)
}

// TestLevelCapacityFollowsFlushedBytes: the picker's capacity unit is the
// SST bytes that L0CompactionTrigger memtables flush to, so compressible
// data, which flushes to fewer bytes, gets smaller levels (with memtable
// bytes as the unit, data that needs two levels fitted in level 1 and
// every level-0 merge rewrote all of it).
func TestLevelCapacityFollowsFlushedBytes(t *testing.T) {
	base := map[Compression]uint64{}
	for _, comp := range []Compression{NoCompression, SnappyCompression} {
		d := mustOpen(t, t.TempDir(), &Options{Compression: comp, MemtableSize: 64 << 10, PageSize: 1024, L0CompactionTrigger: 4})
		d.mu.Lock()
		before := d.baseLevelSizeLocked()
		d.mu.Unlock()
		if want := uint64(4 * 64 << 10); before != want {
			t.Fatalf("%s: capacity unit before any flush %d, want %d", comp, before, want)
		}
		for i := 0; i < 5000; i++ {
			if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), compressibleValue(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		base[comp] = d.baseLevelSizeLocked()
		d.mu.Unlock()
		d.Close()
	}
	t.Logf("capacity unit after the flushes: %v", base)
	if float64(base[SnappyCompression]) > 0.75*float64(base[NoCompression]) {
		t.Fatalf("compressed flushes give a capacity unit of %d, uncompressed %d", base[SnappyCompression], base[NoCompression])
	}
}
