package db

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/vfs"
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
		TargetFileSize: 64 << 10, L0CompactionTrigger: 2, Experimental: Experimental{NoReadCompactions: off},
		noSpaceFolds: true})
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
	fillTwoLevels(t, d, n, put)
	before := d.Metrics()

	// The tree is a few MB: at one positioning per 16 KiB of merge input,
	// with every extra level charged per positioning, a few hundred seeks
	// pay for each fold. The writing run puts one key per 100 seeks, too
	// few to fill a memtable, so no merge is due by shape and what
	// happens to the levels is left to the reads. Once writes stop, the
	// whole-tree fold waits until they have stopped for defaultQuietAfter.
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

// fillTwoLevels puts every key of [0, n) with put (round 0), then, until
// the merges leave more than one level below level 0, rounds of a tenth of
// them: how far down the first writes went depends on the merges' timing,
// but a round that small stays above them. 7919 is prime to the n used.
func fillTwoLevels(t *testing.T, d *DB, n int, put func(i, round int)) {
	t.Helper()
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
		d.mu.Lock()
		levels := extraLevels(d.mu.version)
		d.mu.Unlock()
		if levels > 0 {
			return
		}
		if r == 10 {
			t.Fatalf("the writes left a single level:\n%s", d.Metrics())
		}
	}
}

// buildFoldableTree fills d (64 KiB memtables) until its tree holds two
// levels below level 0, then flushes small rounds until level 0 holds one
// to three runs, and returns the value of every key. Nothing is due by
// shape afterwards.
func buildFoldableTree(t *testing.T, d *DB, n int) map[string]string {
	t.Helper()
	want := make(map[string]string)
	put := func(i, round int) {
		t.Helper()
		k := fmt.Sprintf("key%06d", i)
		v := fmt.Sprintf("v%d-%d %x", round, i, sha(i*7+round))
		if err := d.Put([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	fillTwoLevels(t, d, n, put)
	// Then rounds of a memtable or less, each flushed to a level-0 run,
	// until level 0 holds one to three runs (below any trigger used here).
	for r := 20; ; r++ {
		for s := 0; s < n/80; s++ {
			put((s*104729+r)%n, r)
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		d.waitIdle()
		d.mu.Lock()
		l0 := d.mu.version.NumRuns(0)
		d.mu.Unlock()
		if l0 >= 1 && l0 <= 3 {
			break
		}
		if r == 40 {
			t.Fatalf("level 0 did not settle at one to three runs:\n%s", d.Metrics())
		}
	}
	return want
}

// checkAll fails unless d holds exactly want.
func checkAll(t *testing.T, d *DB, want map[string]string) {
	t.Helper()
	it := d.NewIter(nil)
	count := 0
	for ok := it.First(); ok; ok = it.Next() {
		if w, found := want[string(it.Key())]; !found || w != string(it.Value()) {
			t.Fatalf("key %q = %q, want %q", it.Key(), it.Value(), w)
		}
		count++
	}
	if err := it.Close(); err != nil || count != len(want) {
		t.Fatalf("scan saw %d keys (err %v), want %d", count, err, len(want))
	}
}

// TestReadsFoldBetweenSparseWrites: writes that come in further apart than
// defaultQuietAfter, beside reads too slow to pay for a fold between two of them,
// do not keep the tree from being folded: the readers' payments add up
// across the writes. (They were started again at every write, so neither
// the whole tree nor a piece was ever folded.)
func TestReadsFoldBetweenSparseWrites(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8, noSpaceFolds: true})
	defer d.Close()
	const n = 20000
	want := buildFoldableTree(t, d, n)
	before := d.Metrics()
	deadline := time.Now().Add(6 * time.Second) // about 2 s here; 11 s and more before
	lastWrite := time.Now()
	for s := 0; d.Metrics().ReadCompactions == before.ReadCompactions; s++ {
		if time.Now().After(deadline) {
			t.Fatalf("no fold for reads after %d seeks between writes %v apart:\n%s", s, 2*defaultQuietAfter, d.Metrics())
		}
		if time.Since(lastWrite) > 2*defaultQuietAfter {
			k := fmt.Sprintf("key%06d", s%n)
			v := fmt.Sprintf("sparse %d", s)
			if err := d.Put([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			want[k] = v
			lastWrite = time.Now()
		}
		it := d.NewIter(nil)
		it.SeekGE([]byte(fmt.Sprintf("key%06d", (s*104729)%n)))
		it.Close()
		time.Sleep(50 * time.Millisecond) // a fraction of a fold per gap
	}
	d.waitIdle()
	checkAll(t, d, want)
}

// TestWholeFoldLeavesLevel0ToWriters: a fold of the whole tree that reads
// level-0 runs does not hold level 0 to itself: writes that resume while it
// runs fill memtables whose runs are compacted into level 1 beside it, so
// the writers never stall on a deep level 0 however long the fold takes.
// (Held, level 0 reached the stop trigger and the writes waited for the
// fold.) The fold is held up by blocking the creation of its first output
// file.
func TestWholeFoldLeavesLevel0ToWriters(t *testing.T) {
	var armed, blocked atomic.Bool
	release, entered := make(chan struct{}), make(chan struct{})
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") && armed.Load() && blocked.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	}))
	d := mustOpen(t, "/db", &Options{FS: fs, MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8})
	defer d.Close()
	const n = 20000
	want := buildFoldableTree(t, d, n)
	d.mu.Lock()
	l0 := d.mu.version.NumRuns(0)
	d.mu.Unlock()
	if l0 == 0 {
		t.Fatalf("no level-0 run to fold:\n%s", d.Metrics())
	}

	// Writes stopped: once defaultQuietAfter has passed, the whole fold runs
	// (for space, or paid for by the seeks), and its first output file
	// blocks.
	armed.Store(true)
	time.Sleep(defaultQuietAfter)
	go func() {
		for s := 0; ; s++ {
			select {
			case <-entered:
				return
			default:
			}
			it := d.NewIter(nil)
			it.SeekGE([]byte(fmt.Sprintf("key%06d", (s*104729)%n)))
			it.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("no fold started:\n%s", d.Metrics())
	}
	d.mu.Lock()
	whole := d.mu.foldingLevel0 != 0
	d.mu.Unlock()
	if !whole {
		close(release)
		t.Fatalf("the blocked compaction is not the whole fold with level 0:\n%s", d.Metrics())
	}

	compactionsBefore := d.Metrics().Compactions
	// About thirty memtables of writes: held, level 0 would reach its
	// stop trigger (24).
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 28*600; i++ {
			k := fmt.Sprintf("key%06d", (i*31)%n)
			v := fmt.Sprintf("during %d %x", i, sha(i))
			if err := d.Put([]byte(k), []byte(v)); err != nil {
				done <- err
				return
			}
			want[k] = v
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatalf("writes stalled behind the fold:\n%s", d.Metrics())
	}
	d.mu.Lock()
	folding, compactedBeside := d.mu.foldingLevel0 != 0, d.mu.stats.compactions
	d.mu.Unlock()
	if !folding {
		t.Errorf("the fold ended while its output was blocked")
	}
	close(release)
	if compactedBeside == compactionsBefore {
		t.Errorf("no level-0 compaction ran beside the fold")
	}
	d.waitIdle()
	checkAll(t, d, want)
}

// TestSpaceFoldAfterWritesStop: once writes have stopped, a tree whose runs
// above the last level hold at least a tenth of its bytes is folded into
// the last level without any read paying for it, so the disk holds about
// the live data; the data stays the same. (Before, such a tree kept its
// overwritten versions until enough reads came, or forever.)
func TestSpaceFoldAfterWritesStop(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8, quietAfter: time.Hour})
	defer d.Close()
	const n = 20000
	want := buildFoldableTree(t, d, n)
	growTop(t, d, n, want)
	before := d.Metrics()
	startQuietFolds(d)
	deadline := time.Now().Add(10 * time.Second)
	for d.Metrics().SpaceCompactions == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no fold for space 10 s after the writes stopped:\n%s", d.Metrics())
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.waitIdle()
	after := d.Metrics()
	d.mu.Lock()
	excess, levels := excessRuns(d.mu.version), extraLevels(d.mu.version)
	d.mu.Unlock()
	if excess != 0 || levels != 0 || after.SpaceCompactions != 1 || after.ReadCompactions != 0 {
		t.Fatalf("after the fold for space: %d excess runs, %d extra levels:\nbefore\n%s\nafter\n%s", excess, levels, before, after)
	}
	if treeBytes(after) >= treeBytes(before) {
		t.Fatalf("the tree holds %d bytes after the fold, %d before", treeBytes(after), treeBytes(before))
	}
	t.Logf("tree bytes %d -> %d", treeBytes(before), treeBytes(after))
	checkAll(t, d, want)
}

// TestNoSpaceFoldForASmallTop: writes that leave less than a tenth of the
// last level's bytes above it are not worth a fold of the whole tree for
// the space they may free: with no reads, nothing is compacted after they
// stop.
func TestNoSpaceFoldForASmallTop(t *testing.T) {
	d := mustOpen(t, t.TempDir(), &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8})
	defer d.Close()
	const n = 20000
	for i := range n {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", i)), sha(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range n / 50 {
		if err := d.Put([]byte(fmt.Sprintf("key%06d", i*50)), sha(-i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	d.waitIdle()
	before := d.Metrics()
	if before.ReadAmplification < 2 {
		t.Fatalf("no run above the last level:\n%s", before)
	}
	time.Sleep(5 * defaultQuietAfter)
	d.waitIdle()
	if after := d.Metrics(); after.Compactions != before.Compactions {
		t.Fatalf("a compaction ran with no reads after the writes stopped:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// treeBytes returns the bytes of the tree's SSTs in m.
func treeBytes(m Metrics) uint64 {
	var n uint64
	for _, l := range m.Levels {
		n += l.Bytes
	}
	return n
}

// TestCloseCancelsWholeFold: Close does not wait for a whole-tree fold
// under way with much left to do, which can take as long as rewriting the
// database: the fold stops, its output files are removed, and the
// database reopens as it was before the fold. (Close waited for the fold,
// which then replaced the tree.) A fold with little left (under
// Options.closeFinishBytes) finishes. The fold is held at its first output
// file until Close begins.
func TestCloseCancelsWholeFold(t *testing.T) {
	t.Run("much left", func(t *testing.T) { testCloseDuringWholeFold(t, 1) })
	t.Run("little left", func(t *testing.T) { testCloseDuringWholeFold(t, 0) })
}

// testCloseDuringWholeFold closes a database during a whole fold, with
// Options.closeFinishBytes set to finishBytes (0: the default, more than
// the fold's input).
func testCloseDuringWholeFold(t *testing.T, finishBytes int64) {
	var armed atomic.Bool
	var dp atomic.Pointer[DB]
	entered := make(chan struct{})
	var once sync.Once
	mem := vfs.NewMem()
	fs := vfs.NewFaultFS(mem, vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") && armed.Load() {
			once.Do(func() { close(entered) })
			<-dp.Load().closeCh
		}
		return nil
	}))
	opts := &Options{FS: fs, MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8, quietAfter: time.Hour, closeFinishBytes: finishBytes}
	d := mustOpen(t, "/db", opts)
	dp.Store(d)
	const n = 20000
	want := buildFoldableTree(t, d, n)
	growTop(t, d, n, want)

	// Writes have stopped: let the fold (for space) start now.
	d.mu.Lock()
	liveBefore := make(map[string]bool)
	for _, f := range d.mu.version.Files() {
		liveBefore[base.MakeFilename(base.FileTypeTable, f.FileNum)] = true
	}
	runsBefore := excessRuns(d.mu.version) + extraLevels(d.mu.version)
	armed.Store(true)
	startQuietFoldsLocked(d)
	d.mu.Unlock()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("no fold started:\n%s", d.Metrics())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	canceled := finishBytes == 1
	if canceled {
		names, err := mem.List("/db")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, ".sst") && !liveBefore[name] {
				t.Errorf("%s, written by the canceled fold, is still there", name)
			}
		}
	}

	armed.Store(false)
	opts.quietAfter = time.Hour
	d = mustOpen(t, "/db", opts)
	defer d.Close()
	d.mu.Lock()
	runsAfter := excessRuns(d.mu.version) + extraLevels(d.mu.version)
	d.mu.Unlock()
	switch {
	case canceled && (runsAfter == 0 || runsAfter < runsBefore):
		t.Fatalf("the fold went on after Close: %d extra runs before, %d after reopening:\n%s", runsBefore, runsAfter, d.Metrics())
	case !canceled && runsAfter != 0:
		t.Fatalf("the fold, with little left, did not finish: %d extra runs after reopening:\n%s", runsAfter, d.Metrics())
	}
	checkAll(t, d, want)
}

// TestFailedSpaceFoldWaitsForWrites: a fold for space that fails (a full
// disk, say: it needs room for its output beside its inputs) is not tried
// again before new writes come in, and is not counted in
// Metrics.SpaceCompactions. (It was retried after every back-off, at
// most 5 s apart, for as long as the disk stayed full.)
func TestFailedSpaceFoldWaitsForWrites(t *testing.T) {
	var failing atomic.Bool
	var attempts atomic.Int32
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") && failing.Load() {
			attempts.Add(1)
			return fmt.Errorf("injected: no space left on device")
		}
		return nil
	}))
	d := mustOpen(t, "/db", &Options{FS: fs, MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		TargetFileSize: 64 << 10, L0CompactionTrigger: 8, quietAfter: time.Hour})
	defer d.Close()
	want := buildFoldableTree(t, d, 20000)
	growTop(t, d, 20000, want)
	failing.Store(true)
	startQuietFolds(d)
	deadline := time.Now().Add(10 * time.Second)
	for attempts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no fold started:\n%s", d.Metrics())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Second) // back-offs of 10, 20, 40, ... ms
	if n := attempts.Load(); n != 1 {
		t.Fatalf("the failed fold for space was tried %d times with no write in between", n)
	}
	if m := d.Metrics(); m.SpaceCompactions != 0 || m.BackgroundErrors == 0 {
		t.Fatalf("after a failed fold: %d folds for space counted, %d background errors", m.SpaceCompactions, m.BackgroundErrors)
	}

	// A write (flushed, which wakes the compaction goroutine), and the disk
	// has room again: the fold runs once writes stop.
	failing.Store(false)
	if err := d.Put([]byte("key000000"), []byte("after")); err != nil {
		t.Fatal(err)
	}
	want["key000000"] = "after"
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	for d.Metrics().SpaceCompactions == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no fold for space after the write:\n%s", d.Metrics())
		}
		time.Sleep(time.Millisecond)
	}
	d.waitIdle()
	checkAll(t, d, want)
}

// growTop flushes rounds of writes into d, built by buildFoldableTree (its
// writes' values in want), until the runs above its last level hold a
// tenth of it, so that a fold for space is due once writes stop. d's
// quietAfter must be long, or the fold may run between two rounds.
func growTop(t *testing.T, d *DB, n int, want map[string]string) {
	t.Helper()
	for r := 100; ; r++ {
		d.mu.Lock()
		fold := d.picker.PickFold(d.mu.version, false)
		due := fold != nil && lsm.FoldFreesSpace(d.mu.version, fold)
		d.mu.Unlock()
		if due {
			return
		}
		if r == 120 {
			t.Fatalf("no fold for space is due:\n%s", d.Metrics())
		}
		for s := 0; s < n/80; s++ {
			k := fmt.Sprintf("key%06d", (s*104729+r)%n)
			v := fmt.Sprintf("v%d-%d", r, s)
			if err := d.Put([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		d.waitIdle()
	}
}

// startQuietFolds makes d, opened with a long quietAfter, fold once writes
// have stopped for a millisecond, and has its compaction goroutine look
// now and a little later (a look that sees the last writes for the first
// time waits for the next one, which the long quietAfter had put off).
func startQuietFolds(d *DB) {
	d.mu.Lock()
	startQuietFoldsLocked(d)
	d.mu.Unlock()
}

// startQuietFoldsLocked is startQuietFolds with d.mu held.
func startQuietFoldsLocked(d *DB) {
	d.opts.quietAfter = time.Millisecond
	d.lookAgainLocked(2 * time.Millisecond)
	d.bgCond.Broadcast()
}
