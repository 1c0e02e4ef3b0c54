package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// replay reads every record of the file at path through a fresh handle.
func replay(t *testing.T, fs vfs.FS, path string) (*Reader, [][]byte) {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, filepath.Base(path))
	var out [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			return r, out
		}
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		out = append(out, bytes.Clone(p))
	}
}

// writeAndClose writes recs through w and closes it.
func writeAndClose(t *testing.T, w *Writer, recs [][]byte) {
	t.Helper()
	for _, p := range recs {
		if err := w.WriteRecord(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkReplay replays the file at path and checks that it holds recs
// whole, with no torn tail.
func checkReplay(t *testing.T, fs vfs.FS, path string, recs [][]byte) {
	t.Helper()
	r, got := replay(t, fs, path)
	if r.TornTail() || len(got) != len(recs) {
		t.Fatalf("torn %v, %d records, want %d", r.TornTail(), len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i], recs[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// mappedRecords are payloads of many sizes: small ones that pack a window,
// some around mappedWriteMax (stored through the mapping or written with a
// write call, one after the other), one that crosses a window boundary and
// one larger than a whole window.
func mappedRecords() [][]byte {
	rng := rand.New(rand.NewSource(1))
	var recs [][]byte
	for total := 0; total < 3*mapWindow; {
		n := 1 + rng.Intn(300)
		if len(recs)%7 == 3 {
			n = mappedWriteMax - 5 + rng.Intn(5000) // stored, or written around
		}
		switch len(recs) {
		case 500:
			n = mapWindow + 12345
		case 900:
			n = 70000
		}
		p := make([]byte, n)
		rng.Read(p)
		recs = append(recs, p)
		total += HeaderLen + n
	}
	return recs
}

// diskLog creates 000001.log in a new temporary directory and returns its
// path and a mapped Writer over it.
func diskLog(t *testing.T) (string, *Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "000001.log")
	f, err := vfs.Default().Create(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, NewMappedWriter(f)
}

func TestMappedWriterOnDisk(t *testing.T) {
	fs := vfs.Default()
	path, w := diskLog(t)
	if runtime.GOOS == "linux" && !w.mapped() {
		// Only a filesystem that refuses mappings, or cannot reserve
		// blocks (ext2), may leave the log on write calls.
		f, err := fs.Create(path + ".probe")
		if err != nil {
			t.Fatal(err)
		}
		m := f.(vfs.Mappable)
		err = m.CheckMapping()
		if err == nil {
			err = m.Allocate(0, 4096)
		}
		f.Close()
		if err == nil {
			t.Fatal("no mapping on Linux, on a filesystem that allows one and can allocate")
		}
		t.Skipf("the filesystem under TempDir cannot map the log: %v", err)
	}
	recs := mappedRecords()
	var want int64
	for i, p := range recs {
		if err := w.WriteRecord(p); err != nil {
			t.Fatal(err)
		}
		want += HeaderLen + int64(len(p))
		if i == len(recs)/2 {
			// What a process crash leaves: the records written so far,
			// read by another handle before any Flush, Sync or Close,
			// then zeros to the end of the window.
			r, got := replay(t, fs, path)
			if r.TornTail() || len(got) != i+1 || !bytes.Equal(got[i], p) {
				t.Fatalf("mid-way replay: torn %v, %d records, want %d", r.TornTail(), len(got), i+1)
			}
		}
	}
	if w.Size() != want {
		t.Fatalf("Size %d, want %d", w.Size(), want)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if size, err := fs.Stat(path); err != nil || size != want {
		t.Fatalf("file size %d (%v) after Close, want %d: padding not trimmed", size, err, want)
	}
	checkReplay(t, fs, path, recs)
	if err := w.WriteRecord([]byte("x")); err == nil {
		t.Fatal("WriteRecord after Close succeeded")
	}
}

// fakeMappable is a memFile whose mapping calls fail on demand.
type fakeMappable struct {
	memFile
	unsafeErr error // returned by CheckMapping when set
	checks    int   // CheckMapping calls
	writes    int   // Write calls
	writeAts  int   // WriteAt calls
	allocErr  error
	allocs    int        // Allocate calls
	writeback [][2]int64 // StartWriteback calls: offset, length
}

func (f *fakeMappable) CheckMapping() error {
	f.checks++
	return f.unsafeErr
}

func (f *fakeMappable) Write(p []byte) (int, error) {
	f.writes++
	return f.memFile.Write(p)
}

func (f *fakeMappable) WriteAt(p []byte, off int64) (int, error) {
	f.writeAts++
	return f.memFile.WriteAt(p, off)
}

func (f *fakeMappable) Allocate(off, n int64) error {
	f.allocs++
	if f.allocErr != nil {
		return f.allocErr
	}
	if int64(len(f.data)) < off+n {
		// Grow within a fixed array, as a file's pages stay where they
		// are: the writer may still be storing into an earlier mapping.
		if f.data == nil {
			f.data = make([]byte, 0, 64<<20)
		}
		if off+n > int64(cap(f.data)) {
			return errors.New("fakeMappable: past 64 MiB")
		}
		f.data = f.data[:off+n]
	}
	return nil
}

func (f *fakeMappable) Map(off int64, n int) ([]byte, error) { return f.data[off : off+int64(n)], nil }
func (f *fakeMappable) Unmap([]byte) error                   { return nil }
func (f *fakeMappable) StartWriteback(off, n int64) error {
	f.writeback = append(f.writeback, [2]int64{off, n})
	return nil
}

// TestMappedWriterStartsWritebackOfFullWindows: once a log has been
// synced, each window is handed to the kernel's writeback as soon as the
// records leave it, so that the next Sync waits for little; the window
// still being filled is not. A log never synced starts no writeback: its
// pages may never need to reach the disk. The filesystem is checked once
// for the file, not once per window.
func TestMappedWriterStartsWritebackOfFullWindows(t *testing.T) {
	for _, sync := range []bool{true, false} {
		f := &fakeMappable{}
		w := NewMappedWriter(f)
		rec := make([]byte, 1000)
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		for w.Size() < 5*mapWindow/2 {
			if err := w.WriteRecord(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Abandon(); err != nil { // waits for the writeback goroutine
			t.Fatal(err)
		}
		var want [][2]int64
		if sync {
			want = [][2]int64{{0, mapWindow}, {mapWindow, mapWindow}}
		}
		if !slices.Equal(f.writeback, want) {
			t.Fatalf("synced %v: writeback started for %v, want %v", sync, f.writeback, want)
		}
		if f.checks != 1 || f.writes != 0 {
			t.Fatalf("%d filesystem checks and %d write calls for a mapped log of 3 windows, want 1 and 0", f.checks, f.writes)
		}
	}
}

// TestSyncedMappedWriterWritesThrough: small records go through the
// mapping until the log's first Sync, and with a write call each after
// it (a store into a page the fsync wrote back faults again, slowly); the
// log reads back whole either way.
func TestSyncedMappedWriterWritesThrough(t *testing.T) {
	f := &fakeMappable{}
	w := NewMappedWriter(f)
	var recs [][]byte
	write := func(n int) {
		for range n {
			p := []byte(fmt.Sprintf("record %d", len(recs)))
			if err := w.WriteRecord(p); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, p)
		}
	}
	write(5)
	if f.writeAts != 0 {
		t.Fatalf("%d write calls for 5 small records before any Sync, want 0", f.writeAts)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	write(5)
	if f.writeAts != 5 {
		t.Fatalf("%d write calls for 5 small records after a Sync, want 5", f.writeAts)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&memFile{data: f.data}, "log")
	for i, want := range recs {
		got, err := r.Next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("record %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

// TestMappedWriterFallsBackOnUnsafeFilesystem: where the filesystem check
// refuses the mapping (btrfs, say) the Writer reserves and maps nothing and
// writes every record with write calls, records of every size, sync
// markers included, and a Reader replays them all.
func TestMappedWriterFallsBackOnUnsafeFilesystem(t *testing.T) {
	f := &fakeMappable{unsafeErr: fmt.Errorf("btrfs is copy-on-write: %w", vfs.ErrMappingUnsafe)}
	w := NewMappedWriter(f)
	w.MarkSyncs()
	if w.mapped() {
		t.Fatal("mapped although the filesystem check refused")
	}
	recs := mappedRecords()
	for i, p := range recs {
		if err := w.WriteRecord(p); err != nil {
			t.Fatal(err)
		}
		if i == len(recs)/2 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	synced := w.Size() // Close syncs, then marks the sync
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f.checks != 1 || f.allocs != 0 || f.writes == 0 {
		t.Fatalf("%d checks, %d Allocate calls, %d write calls; want 1, 0 and some", f.checks, f.allocs, f.writes)
	}
	if int64(len(f.data)) != w.Size() {
		t.Fatalf("file is %d bytes, records end at %d", len(f.data), w.Size())
	}
	r, got, err := readAll(f.data)
	if err != io.EOF || r.TornTail() || len(got) != len(recs) {
		t.Fatalf("replay: %v, torn %v, %d records, want %d", err, r.TornTail(), len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i], recs[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if r.SyncedTo() != synced {
		t.Fatalf("SyncedTo %d, want %d: Close's marker is missing", r.SyncedTo(), synced)
	}
}

// refusingFile is an operating-system file whose filesystem check refuses
// the mapping, as on btrfs.
type refusingFile struct {
	vfs.File
	vfs.Mappable
}

func (refusingFile) CheckMapping() error {
	return fmt.Errorf("refusingFile: %w", vfs.ErrMappingUnsafe)
}

// createMappable creates 000001.log in a new temporary directory and
// returns its path, the file and the file as a vfs.Mappable, skipping the
// test where files cannot be mapped.
func createMappable(t *testing.T) (string, vfs.File, vfs.Mappable) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "000001.log")
	f, err := vfs.Default().Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := f.(vfs.Mappable)
	if !ok {
		f.Close()
		t.Skip("files are not Mappable on " + runtime.GOOS)
	}
	return path, f, m
}

// TestMappedWriterRefusedOnDisk writes a real file through the write-call
// path that a refused mapping leaves: the file is not grown ahead of the
// records, and a fresh handle replays them all.
func TestMappedWriterRefusedOnDisk(t *testing.T) {
	fs := vfs.Default()
	path, f, m := createMappable(t)
	w := NewMappedWriter(refusingFile{f, m})
	if w.mapped() {
		t.Fatal("mapped although the filesystem check refused")
	}
	recs := mappedRecords()
	writeAndClose(t, w, recs)
	if size, err := fs.Stat(path); err != nil || size != w.Size() {
		t.Fatalf("file is %d bytes (%v), records end at %d", size, err, w.Size())
	}
	checkReplay(t, fs, path, recs)
}

func TestMappedWriterFallsBackWithoutAllocate(t *testing.T) {
	f := &fakeMappable{allocErr: errors.New("operation not supported")}
	w := NewMappedWriter(f)
	if w.mapped() {
		t.Fatal("mapped although Allocate failed")
	}
	if err := w.WriteRecord([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := readAll(f.data); err != io.EOF || len(got) != 1 {
		t.Fatalf("fallback log: %v, %d records", err, len(got))
	}
	if w := NewMappedWriter(&memFile{}); w.mapped() {
		t.Fatal("a file without Mappable was mapped")
	}
}

// TestMappedWriterFullDiskNearWindowEnd: when the next window cannot be
// reserved ahead of the records (a full disk), the writer does not try
// again on every record; the records fill the window, and the window
// switch reports the error.
func TestMappedWriterFullDiskNearWindowEnd(t *testing.T) {
	f := &fakeMappable{}
	w := NewMappedWriter(f)
	rec := make([]byte, 100)
	for w.Size() < mapWindow-prefaultLead-1000 {
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	f.allocErr = errInjected
	before := f.allocs
	var err error
	for err == nil {
		err = w.WriteRecord(rec)
	}
	if !errors.Is(err, errInjected) || w.Size() < int64(mapWindow-HeaderLen-len(rec)) {
		t.Fatalf("at %d bytes: %v", w.Size(), err)
	}
	if n := f.allocs - before; n > 2 {
		t.Fatalf("%d Allocate calls for the next window, want at most 2 (one ahead, one at the switch)", n)
	}
}

func TestMappedWriterBreaksWhenGrowingFails(t *testing.T) {
	f := &fakeMappable{}
	w := NewMappedWriter(f)
	if !w.mapped() {
		t.Fatal("not mapped")
	}
	if err := w.WriteRecord(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	f.allocErr = errInjected // the disk is full when the window runs out
	if err := w.WriteRecord(make([]byte, mapWindow)); !errors.Is(err, errInjected) {
		t.Fatalf("growing past a full disk: %v", err)
	}
	if err := w.WriteRecord([]byte("x")); !errors.Is(err, errInjected) {
		t.Fatalf("after failure: %v", err)
	}
	if err := w.Sync(); !errors.Is(err, errInjected) {
		t.Fatalf("Sync after failure: %v", err)
	}
	// The good record survives; nothing of the large one was written (its
	// windows are reserved before it is).
	r, got, err := readAll(f.data)
	if err != io.EOF || r.TornTail() || len(got) != 1 {
		t.Fatalf("after failure: err %v torn %v, %d records", err, r.TornTail(), len(got))
	}
}

// TestMappedWriterPrefaultsAhead: on disk the helper keeps the faulted-in
// pages ahead of the records, and its zeros never reach the log: every
// record reads back and the closed file ends with the last one.
func TestMappedWriterPrefaultsAhead(t *testing.T) {
	fs := vfs.Default()
	path, w := diskLog(t)
	if !w.mapped() {
		t.Skip("the filesystem under TempDir cannot map the log")
	}
	rec := bytes.Repeat([]byte("r"), 120)
	n, ahead, early := 0, 0, false
	for w.Size() < 3*mapWindow/2 {
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
		n++
		if w.pfNext > w.winOff+int64(w.winPos) {
			ahead++
		}
		if w.winOff == 0 && w.next != nil && w.pfNext > mapWindow {
			early = true // the helper went on into the second window
		}
	}
	if ahead < n*9/10 {
		t.Fatalf("prefaulted pages were ahead of the records after %d of %d records", ahead, n)
	}
	if !early {
		t.Fatal("the second window was not mapped and faulted in before the records reached it")
	}
	size := w.Size()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, got := replay(t, fs, path)
	if len(got) != n {
		t.Fatalf("replayed %d records, wrote %d", len(got), n)
	}
	if got, err := fs.Stat(path); err != nil || got != size {
		t.Fatalf("closed log is %d bytes (err %v), records end at %d", got, err, size)
	}
}

// mappedOnly is an OS file seen only as a vfs.File and a vfs.Mappable,
// not a vfs.VectorWriter: a mapped Writer must then copy each record it
// writes with a write call into one buffer.
type mappedOnly struct {
	vfs.File
	vfs.Mappable
}

// TestMappedWriterWithoutVectorWrites writes records of every size through
// a mapped Writer over a file that cannot write several buffers at once,
// and reads them all back.
func TestMappedWriterWithoutVectorWrites(t *testing.T) {
	fs := vfs.Default()
	path, f, m := createMappable(t)
	w := NewMappedWriter(mappedOnly{f, m})
	if !w.mapped() {
		w.Close()
		t.Skip("the filesystem under TempDir cannot map the log")
	}
	recs := mappedRecords()
	writeAndClose(t, w, recs)
	checkReplay(t, fs, path, recs)
}

// TestMappedWriterDoesNotCopyLargeRecords writes 1 MiB records through a
// mapped log on disk: header and payload go to the file in one vectored
// write, so the Writer allocates nothing like a copy of each.
func TestMappedWriterDoesNotCopyLargeRecords(t *testing.T) {
	_, w := diskLog(t)
	defer w.Close()
	if !w.mapped() {
		t.Skip("the filesystem under TempDir cannot map the log")
	}
	if _, ok := w.f.(vfs.VectorWriter); !ok {
		t.Skip("no vectored writes on this system")
	}
	p := bytes.Repeat([]byte("v"), 1<<20)
	const records = 32
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range records {
		if err := w.WriteRecord(p); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("writing %d records of 1 MiB allocated %d bytes", records, got)
	}
}
