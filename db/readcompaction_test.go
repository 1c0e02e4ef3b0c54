package db

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestReadsFoldOverlappingRuns: once writes stop, a lazy-leveled tree keeps
// its level-0 and level-1 runs; iterators that keep seeking over them pay
// for a merge that folds them, after which a read visits fewer runs and
// sees the same data. Without reads nothing is folded.
func TestReadsFoldOverlappingRuns(t *testing.T) {
	t.Run("seeks", func(t *testing.T) { testReadsFold(t, false) })
	t.Run("gets", func(t *testing.T) { testReadsFold(t, true) })
}

// testReadsFold is TestReadsFoldOverlappingRuns with the reads done by
// seeks or by point lookups (which count at a fraction: before they
// counted, a database that only served gets never folded its runs).
func testReadsFold(t *testing.T, gets bool) {
	// Three rounds, each flushed to its own level-0 run; the trigger is
	// above that, so no merge is due and the runs stay until reads pay.
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 1 << 20, PageSize: 1024, CacheSize: 1 << 20, L0CompactionTrigger: 8})
	defer d.Close()
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%06d", i)) }
	const n = 4000
	val := func(round, i int) []byte {
		return []byte(fmt.Sprintf("v%d-%d %x", round, i, sha(round*n+i)))
	}
	for round := 0; round < 3; round++ {
		for i := round % 2; i < n; i += 2 {
			if err := d.Put(key(i), val(round, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			d.mu.Lock()
			busy := d.mu.compacting || d.mu.compactingLevel0 || len(d.mu.imms) > 0 || d.picker.Pick(d.mu.version) != nil
			d.mu.Unlock()
			if !busy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("merges did not settle")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitIdle()
	before := d.Metrics()
	d.mu.Lock()
	excess := excessRuns(d.mu.version)
	d.mu.Unlock()
	if excess != 3 {
		t.Fatalf("the tree has %d runs to fold, want the 3 level-0 runs:\n%s", excess, before)
	}
	time.Sleep(20 * time.Millisecond)
	if m := d.Metrics(); m.ReadCompactions != 0 {
		t.Fatalf("a merge for reads ran without reads: %d", m.ReadCompactions)
	}

	want := func(i int) string {
		if i%2 == 1 {
			return string(val(1, i))
		}
		return string(val(2, i))
	}
	reads := 0
	for s := 0; d.Metrics().ReadCompactions == 0; s++ {
		if s > getsPerPositioning*200000 || (!gets && s > 200000) {
			t.Fatalf("no merge after %d reads:\n%s", s, d.Metrics())
		}
		i := (s * 7919) % (n - 1)
		reads++
		if gets {
			if v, err := d.Get(key(i)); err != nil || string(v) != want(i) {
				t.Fatalf("get %d: %q, %v", i, v, err)
			}
			continue
		}
		it := d.NewIter(nil)
		if !it.SeekGE(key(i)) || !bytes.Equal(it.Key(), key(i)) || string(it.Value()) != want(i) {
			t.Fatalf("seek %d: at %q = %q", i, it.Key(), it.Value())
		}
		it.Close()
	}
	waitIdle()
	after := d.Metrics()
	if after.ReadAmplification >= before.ReadAmplification {
		t.Fatalf("read amplification %d before the fold, %d after:\n%s\n%s", before.ReadAmplification, after.ReadAmplification, before, after)
	}
	t.Logf("read amplification %d -> %d after %d merge(s) for %d reads", before.ReadAmplification, after.ReadAmplification, after.ReadCompactions, reads)
	it := d.NewIter(nil)
	count := 0
	for ok := it.First(); ok; ok = it.Next() {
		var i int
		fmt.Sscanf(string(it.Key()), "key%06d", &i)
		if string(it.Value()) != want(i) {
			t.Fatalf("key %d = %q, want %q", i, it.Value(), want(i))
		}
		count++
	}
	if err := it.Close(); err != nil || count != n {
		t.Fatalf("scan saw %d keys (err %v), want %d", count, err, n)
	}
}

// sha returns 32 bytes that do not compress, derived from i.
func sha(i int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return h[:]
}

// TestLevel1RunsStayBounded: level-0 merges run beside the deeper ones, but
// never add runs to a level 1 already at twice its run limit, so however long
// a merge of the last level takes, level 1 holds a bounded number of runs
// (the runs a merge has picked up stay counted until it installs).
func TestLevel1RunsStayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 24 MB")
	}
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20})
	defer d.Close()
	value := make([]byte, 100)
	worst := 0
	for i := 0; i < 200000; i++ {
		copy(value, sha(i))
		if err := d.Put([]byte(fmt.Sprintf("key%08d", (i*7919)%200000)), value); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			d.mu.Lock()
			worst = max(worst, d.mu.version.NumRuns(1))
			d.mu.Unlock()
		}
	}
	// K = 3: level 0 merges go on up to 2K runs, and compactLoop's own
	// level-0 merges (when level 0 outscores level 1) may add one or two.
	if worst > 9 {
		t.Fatalf("level 1 reached %d runs", worst)
	}
	t.Logf("level 1 held at most %d runs", worst)
}

// TestReadsFoldLevels: reads visit every run and every non-empty level;
// once writes stop, the reads pay for merging the whole tree into its last
// level in one merge (not level by level, which rewrote each middle level
// once per level above it), and the data stays the same. While writes keep
// coming, no level is folded however much is read: the merges due by
// shape move the upper levels down anyway. With
// Options.NoReadCompactions nothing is folded for reads at all.
func TestReadsFoldLevels(t *testing.T) {
	t.Run("writes stopped", func(t *testing.T) { testReadsFoldLevels(t, false, false) })
	t.Run("writes going on", func(t *testing.T) { testReadsFoldLevels(t, true, false) })
	t.Run("turned off", func(t *testing.T) { testReadsFoldLevels(t, false, true) })
}

func testReadsFoldLevels(t *testing.T, writing, off bool) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 2, Experimental: Experimental{NoReadCompactions: off}})
	defer d.Close()
	const n = 20000
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%06d", i)) }
	val := func(i, round int) []byte { return []byte(fmt.Sprintf("v%d-%d %x", round, i, sha(i*7+round))) }
	latest := make([]int, n) // the round of each key's value
	put := func(i, round int) {
		t.Helper()
		if err := d.Put(key(i), val(i, round)); err != nil {
			t.Fatal(err)
		}
		latest[i] = round
	}
	shape := func() (excess, levels int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return excessRuns(d.mu.version), extraLevels(d.mu.version)
	}
	// Every key once (7919 is prime to n), then, until the merges leave
	// more than one level, rounds of a tenth of them: how far down the
	// first writes went depends on the merges' timing, but a round that
	// small stays above them.
	for s := 0; s < n; s++ {
		put((s*7919)%n, 0)
	}
	for r := 1; ; r++ {
		for s := 0; s < n/10; s++ {
			put((s*7919+r)%n, r)
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		d.waitIdle()
		if _, levels := shape(); levels > 0 {
			break
		}
		if r == 10 {
			t.Fatalf("the writes left a single level:\n%s", d.Metrics())
		}
	}
	before := d.Metrics()

	// The tree is a few MB: at one positioning per 16 KiB of merge input,
	// with every extra level charged per positioning, a few hundred seeks
	// pay for each fold. The writing run puts one key per 100 seeks, too
	// few to fill a memtable, so no merge is due by shape and what
	// happens to the levels is left to the reads. Once writes stop, the
	// whole-tree fold waits until they have stopped for quietAfter.
	const seeks = 20000
	deadline := time.Now().Add(10 * time.Second)
	round := 100
	s := 0
	for ; s < seeks || (!writing && !off && time.Now().Before(deadline)); s++ {
		if _, levels := shape(); levels == 0 {
			break
		}
		i := (s * 104729) % n
		it := d.NewIter(nil)
		if !it.SeekGE(key(i)) || !bytes.Equal(it.Key(), key(i)) || !bytes.Equal(it.Value(), val(i, latest[i])) {
			t.Fatalf("seek %d: at %q = %q, want %q", i, it.Key(), it.Value(), val(i, latest[i]))
		}
		it.Close()
		if writing && s%100 == 0 {
			put((s*31)%n, round)
			round++
		}
	}
	d.waitIdle()
	after := d.Metrics()
	excess, levels := shape()
	switch {
	case off:
		if after.ReadCompactions != 0 || after.Compactions != before.Compactions {
			t.Fatalf("merges ran for reads that were turned off:\nbefore\n%s\nafter\n%s", before, after)
		}
	case writing:
		if after.Flushes != before.Flushes {
			t.Fatalf("the writes filled a memtable")
		}
		if levels == 0 {
			t.Fatalf("the levels were folded after %d seeks while writes went on:\nbefore\n%s\nafter\n%s", s, before, after)
		}
	default:
		if levels != 0 || excess != 0 {
			t.Fatalf("after %d seeks: %d excess runs and %d extra levels:\n%s", s, excess, levels, after)
		}
		if after.ReadAmplification >= before.ReadAmplification {
			t.Fatalf("read amplification %d before, %d after", before.ReadAmplification, after.ReadAmplification)
		}
		if n := after.ReadCompactions - before.ReadCompactions; n != 1 {
			t.Fatalf("%d merges for reads, want one of the whole tree:\nbefore\n%s\nafter\n%s", n, before, after)
		}
		t.Logf("read amplification %d -> %d after %d merge(s) for %d seeks", before.ReadAmplification, after.ReadAmplification, after.ReadCompactions-before.ReadCompactions, s)
	}
	it := d.NewIter(nil)
	count := 0
	for ok := it.First(); ok; ok = it.Next() {
		var i int
		fmt.Sscanf(string(it.Key()), "key%06d", &i)
		if !bytes.Equal(it.Value(), val(i, latest[i])) {
			t.Fatalf("key %d = %q, want round %d", i, it.Value(), latest[i])
		}
		count++
	}
	if err := it.Close(); err != nil || count != n {
		t.Fatalf("scan saw %d keys (err %v), want %d", count, err, n)
	}
}
