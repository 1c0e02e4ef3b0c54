package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// history is a sequence of edits that applies cleanly to a new State.
func history() []*VersionEdit {
	return []*VersionEdit{
		{LogNum: 2, NextFileNum: 3, LastSeq: 0},
		{LogNum: 4, NextFileNum: 6, LastSeq: 100, NewFiles: []NewFile{{Level: 0, Meta: meta(5, 1, "a", "k")}}},
		{NextFileNum: 8, LastSeq: 200, NewFiles: []NewFile{{Level: 0, Meta: meta(7, 2, "c", "z")}}},
		{NextFileNum: 10, DeletedFiles: []DeletedFile{{Level: 0, FileNum: 5}, {Level: 0, FileNum: 7}},
			NewFiles: []NewFile{{Level: 1, Meta: meta(8, 3, "a", "m")}, {Level: 1, Meta: meta(9, 3, "n", "z")}}},
	}
}

// stateOf applies edits to a new State.
func stateOf(t *testing.T, edits []*VersionEdit) *State {
	t.Helper()
	s := NewState()
	for i, e := range edits {
		if err := s.Apply(e); err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	return s
}

// writeManifest creates manifest num in dir from edits (the first is the
// snapshot) and returns the path.
func writeManifest(t *testing.T, fs vfs.FS, dir string, num base.FileNum, edits []*VersionEdit) string {
	t.Helper()
	w, err := Create(fs, dir, num, edits[0])
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for i, e := range edits[1:] {
		if err := w.Append(e); err != nil {
			t.Fatalf("Append %d: %v", i+1, err)
		}
	}
	if w.FileNum() != num {
		t.Fatalf("FileNum %d", w.FileNum())
	}
	size := w.Size()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	path := filepath.Join(dir, base.MakeFilename(base.FileTypeManifest, num))
	if st, err := os.Stat(path); err != nil || st.Size() != size {
		t.Fatalf("manifest size %v (err %v), Writer.Size %d", st.Size(), err, size)
	}
	return path
}

func TestCreateAppendRecover(t *testing.T) {
	fs, dir := vfs.Default(), t.TempDir()
	edits := history()
	writeManifest(t, fs, dir, 3, edits)
	s, num, err := Recover(fs, dir)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if num != 3 || !statesEqual(s, stateOf(t, edits)) {
		t.Fatalf("recovered manifest %d, state differs", num)
	}
	if s.LogNum != 4 || s.NextFileNum != 10 || s.LastSeq != 200 || len(s.Files(1)) != 2 || len(s.Files(0)) != 0 {
		t.Fatalf("unexpected state %+v", s)
	}
	// Roll over to a new manifest from the snapshot: same state.
	w, err := Create(fs, dir, 11, s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s2, num, err := Recover(fs, dir)
	if err != nil || num != 11 || !statesEqual(s, s2) {
		t.Fatalf("after rollover: manifest %d, err %v", num, err)
	}
	if err := w.Append(&VersionEdit{LastSeq: 1}); !errors.Is(err, base.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, base.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if w.Size() == 0 {
		t.Fatal("Size after Close is 0")
	}
	names, _ := fs.List(dir)
	for _, n := range names {
		if ft, _ := base.ParseFilename(n); ft == base.FileTypeTemp {
			t.Fatalf("temporary file %s left behind", n)
		}
	}
}

func TestRecoverTornTail(t *testing.T) {
	fs, dir := vfs.Default(), t.TempDir()
	edits := history()
	path := writeManifest(t, fs, dir, 3, edits)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastLen := wal.HeaderLen + 1 + len(edits[len(edits)-1].encode(nil))
	lastStart := len(data) - lastLen
	for cut := lastStart; cut < len(data); cut++ {
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := Recover(fs, dir)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !statesEqual(s, stateOf(t, edits[:len(edits)-1])) {
			t.Fatalf("cut %d: state is not the one before the torn edit", cut)
		}
	}
	// A flipped bit in the last record is a torn tail too.
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(path, bad, 0o644)
	if _, _, err := Recover(fs, dir); err != nil {
		t.Fatalf("corrupt last record: %v", err)
	}
}

func TestRecoverCorruption(t *testing.T) {
	edits := history()
	for _, tc := range []struct {
		name string
		mut  func(data []byte) []byte
	}{
		{"middle record bit flip", func(d []byte) []byte { d[wal.HeaderLen+3] ^= 0x40; return d }},
		{"empty manifest", func(d []byte) []byte { return d[:0] }},
		{"torn first record", func(d []byte) []byte { return d[:5] }},
		// A length field that runs past the end of the file reads as a
		// torn record: the sync markers after it show it is not the tail.
		{"middle record length past the end", func(d []byte) []byte {
			binary.LittleEndian.PutUint32(d[0:4], uint32(len(d)))
			return d
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir := vfs.Default(), t.TempDir()
			path := writeManifest(t, fs, dir, 3, edits)
			data, _ := os.ReadFile(path)
			os.WriteFile(path, tc.mut(data), 0o644)
			_, _, err := Recover(fs, dir)
			var ce *base.CorruptionError
			if !errors.As(err, &ce) || ce.File != "MANIFEST-000003" {
				t.Fatalf("Recover = %v, want corruption naming MANIFEST-000003", err)
			}
		})
	}
}

// appendRaw appends a record with the given payload to the manifest.
func appendRaw(t *testing.T, path string, payload []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := wal.NewWriter(fileAdapter{f})
	if err := w.WriteRecord(payload); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileAdapter makes an *os.File a vfs.File.
type fileAdapter struct{ *os.File }

func (f fileAdapter) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func TestRecoverBadRecords(t *testing.T) {
	edits := history()
	good := (&VersionEdit{LastSeq: 1}).encode([]byte{formatVersion})
	for _, tc := range []struct {
		name     string
		payloads [][]byte
	}{
		{"unknown version", [][]byte{{2, 1, 5}, good}},
		{"undecodable edit", [][]byte{{formatVersion, 99}, good}},
		{"edit that does not apply", [][]byte{
			(&VersionEdit{DeletedFiles: []DeletedFile{{Level: 3, FileNum: 77}}}).encode([]byte{formatVersion}), good}},
		// Even as the last record: the checksum was good, so it was acknowledged.
		{"bad last record", [][]byte{{formatVersion, 99}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir := vfs.Default(), t.TempDir()
			path := writeManifest(t, fs, dir, 3, edits)
			st, _ := os.Stat(path)
			for _, p := range tc.payloads {
				appendRaw(t, path, p)
			}
			_, _, err := Recover(fs, dir)
			var ce *base.CorruptionError
			if !errors.As(err, &ce) || ce.File != "MANIFEST-000003" || ce.Where != "offset "+strconv.FormatInt(st.Size(), 10) {
				t.Fatalf("Recover = %v, want corruption at MANIFEST-000003 offset %d", err, st.Size())
			}
		})
	}
}

func TestCurrent(t *testing.T) {
	fs, dir := vfs.Default(), t.TempDir()
	if _, err := ReadCurrent(fs, dir); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("no CURRENT: %v", err)
	}
	if _, _, err := Recover(fs, dir); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("Recover with no CURRENT: %v", err)
	}
	if _, err := setCurrent(fs, dir, 7); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if string(data) != "MANIFEST-000007\n" {
		t.Fatalf("CURRENT holds %q", data)
	}
	if num, err := ReadCurrent(fs, dir); err != nil || num != 7 {
		t.Fatalf("ReadCurrent = %d, %v", num, err)
	}
	// CURRENT naming a missing manifest is corruption, not "no database".
	_, _, err := Recover(fs, dir)
	if !errors.Is(err, base.ErrCorruption) || errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("missing manifest: %v", err)
	}
	for _, content := range []string{
		"", "\n", "MANIFEST-000007", "MANIFEST-7\n", "MANIFEST-000000\n", "000007.sst\n",
		"MANIFEST-000007\n\n", "garbage", string(make([]byte, 100)),
	} {
		os.WriteFile(filepath.Join(dir, "CURRENT"), []byte(content), 0o644)
		if _, err := ReadCurrent(fs, dir); !errors.Is(err, base.ErrCorruption) {
			t.Errorf("CURRENT %q: %v, want corruption", content, err)
		}
	}
}

func TestAppendFailureBreaksWriter(t *testing.T) {
	fs, dir := &faultFS{FS: vfs.Default()}, t.TempDir()
	edits := history()
	w, err := Create(fs, dir, 3, edits[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(edits[1]); err != nil {
		t.Fatal(err)
	}
	// An invalid edit is refused without breaking the writer.
	if err := w.Append(&VersionEdit{NewFiles: []NewFile{{Level: 99, Meta: meta(3, 0, "a", "b")}}}); err == nil {
		t.Fatal("invalid edit accepted")
	}
	fs.failSync = true
	err = w.Append(edits[2])
	if !errors.Is(err, errInjected) {
		t.Fatalf("Append with failing sync: %v", err)
	}
	fs.failSync = false
	if got := w.Append(edits[3]); !errors.Is(got, errInjected) {
		t.Fatalf("Append after failure: %v", got)
	}
	if got := w.Close(); got == nil {
		t.Fatal("Close after failure succeeded")
	}
	// What was acknowledged survives.
	s, _, err := Recover(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.LastSeq < 100 {
		t.Fatalf("acknowledged edit lost: %+v", s)
	}
}

func TestCreateFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    func(fs *faultFS)
		keepOK bool // the old manifest must still be current
	}{
		{"sync", func(fs *faultFS) { fs.failSync = true }, true},
		{"sync dir", func(fs *faultFS) { fs.failSyncDir = true }, true},
		{"rename", func(fs *faultFS) { fs.failRename = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir := &faultFS{FS: vfs.Default()}, t.TempDir()
			edits := history()
			writeManifest(t, fs, dir, 3, edits)
			tc.set(fs)
			if _, err := Create(fs, dir, 11, stateOf(t, edits).Snapshot()); !errors.Is(err, errInjected) {
				t.Fatalf("Create = %v", err)
			}
			*fs = faultFS{FS: fs.FS}
			s, num, err := Recover(fs, dir)
			if err != nil || num != 3 || !statesEqual(s, stateOf(t, edits)) {
				t.Fatalf("after failed Create: manifest %d, err %v", num, err)
			}
			names, _ := fs.List(dir)
			for _, n := range names {
				if ft, num := base.ParseFilename(n); ft == base.FileTypeTemp || num == 11 {
					t.Fatalf("file %s left behind", n)
				}
			}
		})
	}
	t.Run("sync dir after rename", func(t *testing.T) {
		// The rename happened but may not be durable: Create reports the
		// error and keeps the new file, which CURRENT now names.
		fs, dir := &faultFS{FS: vfs.Default()}, t.TempDir()
		edits := history()
		writeManifest(t, fs, dir, 3, edits)
		*fs = faultFS{FS: fs.FS, failSyncDirCall: 2}
		if _, err := Create(fs, dir, 11, stateOf(t, edits).Snapshot()); !errors.Is(err, errInjected) {
			t.Fatalf("Create = %v", err)
		}
		s, num, err := Recover(fs, dir)
		if err != nil || num != 11 || !statesEqual(s, stateOf(t, edits)) {
			t.Fatalf("after failed dir sync: manifest %d, err %v", num, err)
		}
	})
	fs, dir := vfs.Default(), t.TempDir()
	if _, err := Create(fs, dir, 3, &VersionEdit{NewFiles: []NewFile{{Level: -1, Meta: meta(1, 0, "a", "b")}}}); err == nil {
		t.Fatal("Create accepted an invalid snapshot")
	}
}

func FuzzRecover(f *testing.F) {
	// Seeds: a good manifest, and variants; more under testdata/fuzz.
	var buf []byte
	for _, e := range history() {
		buf = appendRecord(buf, e.encode([]byte{formatVersion}))
	}
	f.Add(buf)
	f.Add(buf[:len(buf)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := replay(&memFile{data: data}, "MANIFEST-000001")
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("error %v is not corruption", err)
			}
			return
		}
		// A recovered state survives a snapshot round trip.
		var e VersionEdit
		if err := e.decode(s.Snapshot().encode(nil)); err != nil {
			t.Fatalf("snapshot does not decode: %v", err)
		}
		s2 := NewState()
		if err := s2.Apply(&e); err != nil || !statesEqual(s, s2) {
			t.Fatalf("snapshot does not recreate the state: %v", err)
		}
	})
}

// appendRecord frames payload as a wal record in memory.
func appendRecord(dst, payload []byte) []byte {
	f := &bufFile{}
	w := wal.NewWriter(f)
	w.WriteRecord(payload)
	w.Flush()
	return append(dst, f.data...)
}

// bufFile is a write-only vfs.File collecting bytes.
type bufFile struct{ memFile }

func (f *bufFile) Write(p []byte) (int, error) { f.data = append(f.data, p...); return len(p), nil }

// TestReadEdits reads a manifest back edit by edit, with the offset of
// each record, and reports a torn tail without failing.
func TestReadEdits(t *testing.T) {
	var buf []byte
	var offs []int64
	for _, e := range history() {
		offs = append(offs, int64(len(buf)))
		buf = appendRecord(buf, e.encode([]byte{formatVersion}))
	}
	whole := int64(len(buf))
	for _, torn := range []bool{false, true} {
		data := buf
		if torn {
			data = appendRecord(bytes.Clone(buf), (&VersionEdit{LastSeq: 300}).encode([]byte{formatVersion}))
			data = data[:len(data)-2]
		}
		i := 0
		end, gotTorn, err := ReadEdits(&memFile{data: data}, "MANIFEST-000001", func(off int64, e *VersionEdit) error {
			if want := history()[i]; off != offs[i] || !bytes.Equal(e.encode(nil), want.encode(nil)) {
				t.Errorf("record %d at offset %d: %+v, want offset %d, %+v", i, off, e, offs[i], want)
			}
			i++
			return nil
		})
		if err != nil || end != whole || gotTorn != torn || i != len(offs) {
			t.Fatalf("torn %v: end %d, torn %v, %d edits, err %v; want end %d", torn, end, gotTorn, i, err, whole)
		}
	}
	stop := errors.New("stop")
	if _, _, err := ReadEdits(&memFile{data: buf}, "m", func(int64, *VersionEdit) error { return stop }); err != stop {
		t.Fatalf("fn's error: got %v", err)
	}
}
