package db

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// dirFiles returns the contents of every file in dir.
func dirFiles(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, n := range names {
		f, err := fsys.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	return files
}

// TestReadOnlyChangesNothing opens a database whose newest WAL ends in a
// torn record, with writes in its tables and its WALs, read-only: every
// acknowledged write reads back, every write call says ErrReadOnly, and
// not one byte of the directory changes; a normal Open afterwards still
// recovers everything.
func TestReadOnlyChangesNothing(t *testing.T) {
	mem, acked := tornDatabase(t)
	before := dirFiles(t, mem, "/db")
	o := recoveryOptions(mem)
	o.ReadOnly = true
	d, err := Open("/db", o)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, d, acked, "read-only")
	if d.Metrics().Recovery.DroppedBytes == 0 {
		t.Fatal("the torn tail was not reported")
	}
	b := d.NewBatch()
	b.Put([]byte("k"), []byte("v"))
	for name, err := range map[string]error{
		"Put":         d.Put([]byte("k"), []byte("v")),
		"Delete":      d.Delete([]byte("k")),
		"DeleteRange": d.DeleteRange([]byte("a"), []byte("b")),
		"Write":       d.Write(b),
		"Flush":       d.Flush(),
		"Compact":     d.Compact(nil, nil),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only database: %v, want ErrReadOnly", name, err)
		}
	}
	if _, err := d.Checkpoint("/ckpt"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Checkpoint of a read-only database with replayed writes: %v, want ErrReadOnly", err)
	}
	if _, err := d.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if after := dirFiles(t, mem, "/db"); !maps.Equal(before, after) {
		t.Fatalf("a read-only Open changed the directory: %d files before, %d after", len(before), len(after))
	}
	d = mustOpen(t, "/db", recoveryOptions(mem))
	checkKeys(t, d, acked, "reopened read-write")
	d.Close()
}

// TestReadOnlyBesideWriter opens read-only a database another handle
// holds open: it sees the writes made before its Open and none after.
// An empty directory, or none, is not a database.
func TestReadOnlyBesideWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	w := mustOpen(t, dir, recoveryOptions(nil))
	for i := range 500 {
		if err := w.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 500; i < 1000; i++ { // in the WAL only
		if err := w.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	o := recoveryOptions(nil)
	o.ReadOnly = true
	r, err := Open(dir, o)
	if err != nil {
		t.Fatalf("read-only Open beside a writer: %v", err)
	}
	if err := w.Put(recoveryKey(1000), recoveryValue(1000)); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, r, 1000, "read-only beside a writer")
	if _, err := r.Get(recoveryKey(1000)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a write made after the read-only Open: %v, want ErrNotFound", err)
	}
	r.Close()
	w.Close()

	empty := t.TempDir()
	if _, err := Open(empty, o); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open of an empty directory: %v, want ErrNotExist", err)
	}
	missing := filepath.Join(empty, "none")
	if _, err := Open(missing, o); err == nil {
		t.Fatal("read-only Open of a missing directory succeeded")
	}
	if _, err := vfs.Default().Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open created %s: %v", missing, err)
	}
}

// TestCheckpointOpenedReadOnly opens a checkpoint read-only (it replays
// nothing) and checkpoints it again.
func TestCheckpointOpenedReadOnly(t *testing.T) {
	root := t.TempDir()
	d := mustOpen(t, filepath.Join(root, "db"), recoveryOptions(nil))
	for i := range 800 {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Checkpoint(filepath.Join(root, "c1")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	o := recoveryOptions(nil)
	o.ReadOnly = true
	r, err := Open(filepath.Join(root, "c1"), o)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, r, 800, "checkpoint opened read-only")
	if _, err := r.Checkpoint(filepath.Join(root, "c2")); err != nil {
		t.Fatalf("checkpoint of a read-only checkpoint: %v", err)
	}
	r.Close()
	c := mustOpen(t, filepath.Join(root, "c2"), recoveryOptions(nil))
	checkKeys(t, c, 800, "checkpoint of a checkpoint opened read-only")
	c.Close()
}

// TestReadOnlyHoldsEveryWAL: a read-only Open takes a handle to every WAL
// it lists before it reads any, so a writer beside it that removes a WAL
// meanwhile (its writes flushed) does not fail the Open. Here the flushes
// fail, so that WALs pile up, and the first read of a WAL removes the
// others, as such a writer would.
func TestReadOnlyHoldsEveryWAL(t *testing.T) {
	mem := vfs.NewMem()
	noTables := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") {
			return errors.New("injected: no tables")
		}
		return nil
	})
	w := mustOpen(t, "/db", recoveryOptions(vfs.NewFaultFS(mem, noTables)))
	n := 0
	for ; wals(t, mem) < 2; n++ {
		if err := w.Put(recoveryKey(n), recoveryValue(n)); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashClone()
	w.Close()

	var removed bool
	removeOthers := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op != vfs.OpRead || !strings.HasSuffix(name, ".log") || removed {
			return nil
		}
		removed = true
		names, _ := crashed.List("/db")
		for _, other := range names {
			if strings.HasSuffix(other, ".log") && other != filepath.Base(name) {
				if err := crashed.Remove(filepath.Join("/db", other)); err != nil {
					t.Error(err)
				}
			}
		}
		return nil
	})
	o := recoveryOptions(vfs.NewFaultFS(crashed, removeOthers))
	o.ReadOnly = true
	r, err := Open("/db", o)
	if err != nil {
		t.Fatalf("read-only Open while its WALs are removed: %v", err)
	}
	defer r.Close()
	if !removed {
		t.Fatal("no WAL was read")
	}
	checkKeys(t, r, n, "read-only, WALs removed under it")
}

// wals counts the WALs in /db of fs.
func wals(t *testing.T, fs vfs.FS) int {
	names, err := fs.List("/db")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".log") {
			n++
		}
	}
	return n
}

// halfWrittenFS shows the bytes [from, to) of the file name as zeros to
// the first read that covers them, as a writer beside a reader may not
// have stored them yet, and the file's real bytes afterwards.
type halfWrittenFS struct {
	vfs.FS
	name     string
	from, to int64
	shown    atomic.Bool // the zeros were shown once
}

func (h *halfWrittenFS) Open(name string) (vfs.File, error) {
	f, err := h.FS.Open(name)
	if err != nil || name != h.name {
		return f, err
	}
	return &halfWrittenFile{File: f, fs: h}, nil
}

type halfWrittenFile struct {
	vfs.File
	fs *halfWrittenFS
}

func (f *halfWrittenFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	h := f.fs
	if off <= h.from && off+int64(n) >= h.to && h.shown.CompareAndSwap(false, true) {
		clear(p[h.from-off : h.to-off])
	}
	return n, err
}

// TestReadOnlyRereadsRecordBeingAppended: a read-only Open that reads a
// WAL record its writer is still appending, and then, in the scan of the
// log's tail, the sync marker the writer wrote after it, reads the record
// again rather than fail the Open with corruption before synced bytes.
func TestReadOnlyRereadsRecordBeingAppended(t *testing.T) {
	mem := vfs.NewMem()
	o := recoveryOptions(mem)
	o.SyncWrites = true
	w := mustOpen(t, "/db", o)
	values := []string{"first-value", "second-value-being-appended", "third-value"}
	for i, v := range values {
		if err := w.Put(recoveryKey(i), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var log, data string
	for n, content := range dirFiles(t, mem, "/db") {
		if strings.HasSuffix(n, ".log") {
			log, data = filepath.Join("/db", n), content
		}
	}
	at := strings.Index(data, values[1])
	if at < 0 {
		t.Fatalf("the second value is not in %s", log)
	}
	h := &halfWrittenFS{FS: mem, name: log, from: int64(at), to: int64(at + len(values[1]))}
	ro := recoveryOptions(h)
	ro.ReadOnly = true
	r, err := Open("/db", ro)
	if err != nil {
		t.Fatalf("read-only Open that met a record being appended: %v", err)
	}
	defer r.Close()
	if !h.shown.Load() {
		t.Fatal("the record was never read half-written")
	}
	for i, v := range values {
		if got, err := r.Get(recoveryKey(i)); err != nil || string(got) != v {
			t.Fatalf("key %d: %q, %v; want %q", i, got, err, v)
		}
	}
}
