package db

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

// writeTable writes a table of the given keys (sorted by the caller); a
// nil value is a deletion.
func writeTable(t testing.TB, fsys vfs.FS, path string, keys []string, values map[string][]byte) {
	t.Helper()
	if err := fsys.MkdirAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	w, err := NewTableWriter(path, &Options{FS: fsys, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v := values[k]; v != nil {
			err = w.Set([]byte(k), v)
		} else {
			err = w.Delete([]byte(k))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// levelOf returns the level of the file holding key in d's tree, or -1.
func levelOf(d *DB, key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for l, runs := range d.mu.version.Levels {
		for _, r := range runs {
			if f := r.Find([]byte(key)); f != nil && f.GlobalSeq != 0 {
				return l
			}
		}
	}
	return -1
}

// TestIngest ingests tables into a database holding older versions of
// some of their keys: afterwards the tables' values and deletions win, a
// snapshot taken before sees the old state, and so do reads after a
// reopen and a full merge; a table over an empty key range goes to the
// bottom, one overlapping level 0 goes to level 0.
func TestIngest(t *testing.T) {
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(mem))
	model := map[string]string{}
	for i := range 2000 {
		k := fmt.Sprintf("k%05d", i*2)
		d.Put([]byte(k), []byte("old"+k))
		model[k] = "old" + k
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	d.Put([]byte("k00100"), []byte("memtable")) // unflushed, older than the table
	model["k00100"] = "memtable"
	snap := d.NewSnapshot()
	before := maps.Clone(model)

	// Table 1: overlaps the tree: new keys, new values, a deletion.
	var keys []string
	values := map[string][]byte{}
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("k%05d", i)
		keys = append(keys, k)
		if i%10 == 4 {
			values[k] = nil
			delete(model, k)
			continue
		}
		values[k] = []byte("new" + k)
		model[k] = "new" + k
	}
	writeTable(t, mem, "/ext/a.sst", keys, values)
	// Table 2: keys past everything in the tree.
	keys = keys[:0]
	for i := 0; i < 500; i++ {
		k := fmt.Sprintf("z%05d", i)
		keys = append(keys, k)
		values[k] = []byte("z" + k)
		model[k] = "z" + k
	}
	writeTable(t, mem, "/ext/b.sst", keys, values)
	if err := d.Ingest("/ext/b.sst", "/ext/a.sst"); err != nil {
		t.Fatal(err)
	}
	if got := levelOf(d, "z00000"); got != lastLevel(d) {
		t.Errorf("table over an empty range at level %d, want the last, %d", got, lastLevel(d))
	}
	if got := levelOf(d, "k00001"); got != 0 {
		t.Errorf("table overlapping the tree at level %d, want 0 (the memtable was flushed there)", got)
	}
	if n := d.Metrics().TablesIngested; n != 2 {
		t.Errorf("TablesIngested %d, want 2", n)
	}
	check := func(what string, read func() map[string]string, want map[string]string) {
		t.Helper()
		if got := read(); !maps.Equal(got, want) {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s: %s = %q, want %q", what, k, got[k], v)
				}
			}
			t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
		}
	}
	scan := func(d *DB) func() map[string]string {
		return func() map[string]string {
			got := map[string]string{}
			for k, v := range contents(t, d) {
				got[k] = v
			}
			return got
		}
	}
	gets := func(d *DB) func() map[string]string {
		return func() map[string]string {
			got := map[string]string{}
			for _, k := range append(slicesKeys(model), slicesKeys(before)...) {
				if v, err := d.Get([]byte(k)); err == nil {
					got[k] = string(v)
				}
			}
			return got
		}
	}
	check("scan after ingest", scan(d), model)
	check("gets after ingest", gets(d), model)
	check("snapshot taken before", func() map[string]string {
		got := map[string]string{}
		it := snap.Scan(nil, nil)
		for it.Next() {
			got[string(it.Key())] = string(it.Value())
		}
		it.Close()
		return got
	}, before)
	snap.Close()
	d.Close()
	d = mustOpen(t, "/db", recoveryOptions(mem))
	check("after reopen", gets(d), model)
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	check("after a full merge", scan(d), model)
	d.Close()
}

func lastLevel(d *DB) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.version.DeepestNonEmpty()
}

func slicesKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestIngestRefuses: tables that overlap each other, have another page
// size, are empty, are not TableWriter's, or are damaged are refused, and
// leave nothing behind in the database's directory.
func TestIngestRefuses(t *testing.T) {
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(mem))
	d.Put([]byte("a"), []byte("1"))
	filesBefore, _ := mem.List("/db")

	writeTable(t, mem, "/ext/one.sst", []string{"b", "d"}, map[string][]byte{"b": []byte("x"), "d": []byte("y")})
	writeTable(t, mem, "/ext/two.sst", []string{"c"}, map[string][]byte{"c": []byte("z")})
	writeTable(t, mem, "/ext/empty.sst", nil, nil)
	w, err := NewTableWriter("/ext/big-pages.sst", &Options{FS: mem, PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	w.Set([]byte("q"), []byte("1"))
	w.Close()
	// A table with a seqnum, as a database's own files have.
	f, _ := mem.Create("/ext/seq.sst")
	sw := sst.NewWriter(f, sst.WriterOptions{PageSize: 1024})
	sw.Add(base.MakeInternalKey([]byte("s"), 9, base.KindSet), []byte("v"))
	sw.Finish()
	f.Close()
	// A damaged one: a byte of its only leaf flipped.
	writeTable(t, mem, "/ext/bad.sst", []string{"m"}, map[string][]byte{"m": bytes.Repeat([]byte("v"), 100)})
	g, _ := mem.OpenReadWrite("/ext/bad.sst")
	g.WriteAt([]byte{0xff}, 1024+200)
	g.Close()

	for _, tc := range []struct {
		name  string
		paths []string
		is    error
	}{
		{"overlapping tables", []string{"/ext/one.sst", "/ext/two.sst"}, nil},
		{"empty table", []string{"/ext/empty.sst"}, nil},
		{"another page size", []string{"/ext/big-pages.sst"}, nil},
		{"seqnums", []string{"/ext/seq.sst"}, nil},
		{"damaged", []string{"/ext/bad.sst"}, ErrCorruption},
		{"missing", []string{"/ext/none.sst"}, nil},
	} {
		err := d.Ingest(tc.paths...)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: Ingest: %v", tc.name, err)
		}
		if after, _ := mem.List("/db"); len(after) != len(filesBefore) {
			t.Errorf("%s: the directory held %v, now %v", tc.name, filesBefore, after)
		}
	}
	if v, err := d.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("after refused ingests: %q, %v", v, err)
	}
	for _, k := range []string{"b", "c", "q", "s", "m"} {
		if _, err := d.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused table's key %s reads %v", k, err)
		}
	}
	d.Close()
}

// TestTableWriterMisuse: keys out of order, repeated, or over the limit.
func TestTableWriterMisuse(t *testing.T) {
	mem := vfs.NewMem()
	w, err := NewTableWriter("/t.sst", &Options{FS: mem, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Set([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Set([]byte("b"), nil); !errors.Is(err, ErrKeyOrder) {
		t.Errorf("repeated key: %v", err)
	}
	if err := w.Delete([]byte("a")); !errors.Is(err, ErrKeyOrder) {
		t.Errorf("smaller key: %v", err)
	}
	if err := w.Set(make([]byte, 1000), nil); !errors.Is(err, ErrKeyTooLarge) {
		t.Errorf("long key: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestIngestWhileWriting ingests tables while writers put keys of their
// own and flushes and merges run; every write and every table is there
// afterwards.
func TestIngestWhileWriting(t *testing.T) {
	dir := t.TempDir()
	o := recoveryOptions(nil)
	o.SyncWrites = false
	d := mustOpen(t, filepath.Join(dir, "db"), o)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written [2]atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := d.Put([]byte(fmt.Sprintf("w%d-%06d", w, i)), recoveryValue(i)); err != nil {
					t.Error(err)
					return
				}
				written[w].Store(int64(i + 1))
			}
		}()
	}
	rng := rand.New(rand.NewSource(1))
	for n := range 8 {
		path := filepath.Join(dir, fmt.Sprintf("t%d.sst", n))
		var keys []string
		values := map[string][]byte{}
		for i := range 300 {
			k := fmt.Sprintf("t%d-%05d", n, i)
			keys = append(keys, k)
			values[k] = recoveryValue(rng.Intn(1000))
		}
		writeTable(t, vfs.Default(), path, keys, values)
		if err := d.Ingest(path); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if v, err := d.Get([]byte(k)); err != nil || !bytes.Equal(v, values[k]) {
				t.Fatalf("table %d: %s: %d bytes, %v", n, k, len(v), err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	for w := range 2 {
		for i := range int(written[w].Load()) {
			if v, err := d.Get([]byte(fmt.Sprintf("w%d-%06d", w, i))); err != nil || !bytes.Equal(v, recoveryValue(i)) {
				t.Fatalf("writer %d key %d: %v", w, i, err)
			}
		}
	}
	d.Close()
}

// TestPowerCutDuringIngest cuts the power at every state-changing
// operation of an Ingest: the database opens with every acknowledged
// write, and with all of the table or none of it.
func TestPowerCutDuringIngest(t *testing.T) {
	base := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(base))
	const n = 800
	for i := range n {
		d.Put(recoveryKey(i), recoveryValue(i))
	}
	d.Close()
	var keys []string
	values := map[string][]byte{}
	for i := 0; i < n+400; i += 2 { // overlaps the old keys, and beyond
		k := string(recoveryKey(i))
		keys = append(keys, k)
		values[k] = []byte("ingested")
	}
	writeTable(t, base, "/ext/t.sst", keys, values)
	base.SyncDir("/")
	base.SyncDir("/ext")
	for i := 0; ; i++ {
		cutter := newPowerCut(base.CrashClone(), i)
		d, err := Open("/db", recoveryOptions(cutter.FS()))
		if err != nil {
			t.Fatal(err)
		}
		cutter.Arm()
		ingErr := d.Ingest("/ext/t.sst")
		d.Close()
		cut := cutter.Crashed()
		if cut == nil {
			if ingErr != nil {
				t.Fatal(ingErr)
			}
			t.Logf("%d power-cut points in an Ingest", i)
			return
		}
		d, err = Open("/db", recoveryOptions(cut))
		if err != nil {
			t.Fatalf("power cut at operation %d of an ingest, then Open: %v", i, err)
		}
		_, err = d.Get(recoveryKey(0))
		whole := err == nil && string(must(d.Get(recoveryKey(0)))) == "ingested"
		for j := 0; j < n+400; j++ {
			v, err := d.Get(recoveryKey(j))
			var want []byte
			switch {
			case whole && j%2 == 0:
				want = []byte("ingested")
			case j < n:
				want = recoveryValue(j)
			}
			if (want == nil) != errors.Is(err, ErrNotFound) || (want != nil && !bytes.Equal(v, want)) {
				t.Fatalf("power cut at operation %d (table in: %v): key %d: %q, %v; want %q", i, whole, j, v, err, want)
			}
		}
		d.Close()
	}
}

func must(v []byte, _ error) []byte { return v }

// TestIngestBesideStalledWriters ingests while writers keep level 0 at its
// stop trigger: Ingest once paused merges before it queued behind a
// writer that only a merge could free, and both waited forever.
func TestIngestBesideStalledWriters(t *testing.T) {
	mem := vfs.NewMem()
	o := recoveryOptions(mem)
	o.SyncWrites = false
	o.L0CompactionTrigger, o.L0SlowdownTrigger, o.L0StopTrigger = 2, 2, 2
	o.MaxImmutableMemtables = 1
	d := mustOpen(t, "/db", o)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := d.Put([]byte(fmt.Sprintf("w%d-%07d", w, i)), recoveryValue(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		for n := range 20 {
			path := fmt.Sprintf("/ext/s%d.sst", n)
			writeTable(t, mem, path, []string{fmt.Sprintf("t%03d", n)}, map[string][]byte{fmt.Sprintf("t%03d", n): []byte("v")})
			if err := d.Ingest(path); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ingest beside stalled writers did not return in 30 s")
	}
	stop.Store(true)
	wg.Wait()
	d.Close()
}

// TestTableWriterKeepsIngestedFiles: a TableWriter refuses a path that
// exists (it would truncate a table an Ingest linked into a database),
// and after the file is removed the database still reads its table.
func TestTableWriterKeepsIngestedFiles(t *testing.T) {
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(mem))
	writeTable(t, mem, "/ext/part.sst", []string{"k1"}, map[string][]byte{"k1": []byte("v1")})
	if err := d.Ingest("/ext/part.sst"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTableWriter("/ext/part.sst", &Options{FS: mem, PageSize: 1024}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("TableWriter over an ingested file: %v, want ErrExist", err)
	}
	mem.Remove("/ext/part.sst")
	writeTable(t, mem, "/ext/part.sst", []string{"k2"}, map[string][]byte{"k2": []byte("v2")})
	if err := d.Ingest("/ext/part.sst"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"k1": "v1", "k2": "v2"} {
		if v, err := d.Get([]byte(k)); err != nil || string(v) != want {
			t.Fatalf("%s = %q, %v; want %q", k, v, err, want)
		}
	}
	w, err := NewTableWriter("/ext/other.sst", &Options{FS: mem, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Set([]byte("x"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
	d.Close()
	if err := d.Ingest("/ext/part.sst"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ingest after Close: %v, want ErrClosed", err)
	}
}
