package db

import (
	"fmt"
	"testing"
)

// TestSeekSkipsRangeDeletedRun: a seek into a stretch that a range
// tombstone deleted, in a run older than the tombstone, skips the stretch
// with one seek instead of reading every deleted entry (before: about one
// leaf page per 40 deleted keys, here some 250 pages). Keys written after
// the deletion, and keys a snapshot from before it sees, are still found.
func TestSeekSkipsRangeDeletedRun(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 4 << 20, PageSize: 4096, L0CompactionTrigger: 8,
		Experimental: Experimental{NoReadCompactions: true}})
	defer d.Close()
	key := func(i int) []byte { return []byte(fmt.Sprintf("win/%06d", i)) }
	const n = 10000
	for i := 0; i < n; i++ {
		if err := d.Put(key(i), make([]byte, 80)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	snap := d.NewSnapshot()
	defer snap.Close()
	if err := d.DeleteRange(key(0), key(n-10)); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(key(5000), []byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}

	before := d.Metrics().Cache
	it := d.NewIter(nil)
	var got []string
	for ok := it.SeekGE(key(0)); ok; ok = it.Next() {
		got = append(got, string(it.Key()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	after := d.Metrics().Cache
	if len(got) != 11 || got[0] != string(key(5000)) || got[1] != string(key(n-10)) {
		t.Fatalf("keys after the deletion: %d, first %q", len(got), got[:min(2, len(got))])
	}
	if pages := (after.Hits + after.Misses) - (before.Hits + before.Misses); pages > 40 {
		t.Errorf("the scan over the deleted stretch read %d pages", pages)
	}

	// The same backward.
	before = d.Metrics().Cache
	it = d.NewIter(nil)
	var back []string
	for ok := it.SeekLT(key(n - 9)); ok; ok = it.Prev() {
		back = append(back, string(it.Key()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	after = d.Metrics().Cache
	if len(back) != 2 || back[0] != string(key(n-10)) || back[1] != string(key(5000)) {
		t.Fatalf("keys backward: %q", back)
	}
	if pages := (after.Hits + after.Misses) - (before.Hits + before.Misses); pages > 40 {
		t.Errorf("the reverse scan over the deleted stretch read %d pages", pages)
	}

	// The snapshot from before the deletion still sees every key.
	sit := snap.Scan(nil, nil)
	count := 0
	for sit.Next() {
		count++
	}
	if err := sit.Close(); err != nil || count != n {
		t.Fatalf("snapshot scan: %d keys, %v", count, err)
	}
}

// BenchmarkSeekAfterDeleteRange seeks to the start of a window of 9,000
// keys that DeleteRange evicted after the keys were flushed, and reads the
// first live key after it.
func BenchmarkSeekAfterDeleteRange(b *testing.B) {
	d, err := Open(b.TempDir(), &Options{L0CompactionTrigger: 8, Experimental: Experimental{NoReadCompactions: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	key := func(i int) []byte { return []byte(fmt.Sprintf("win/%06d", i)) }
	for i := 0; i < 10000; i++ {
		if err := d.Put(key(i), make([]byte, 80)); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := d.DeleteRange(key(0), key(9000)); err != nil {
		b.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		it := d.NewIter(nil)
		if !it.SeekGE(key(0)) || string(it.Key()) != string(key(9000)) {
			b.Fatalf("first live key %q", it.Key())
		}
		it.Close()
	}
}
