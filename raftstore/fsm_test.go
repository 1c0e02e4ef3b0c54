package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/seed-d6fe07da/strata/db"
)

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func openFSM(t testing.TB, dir string) *FSM {
	t.Helper()
	f, err := OpenFSM(dir, &db.Options{MemtableSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cmdLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func wantValue(t *testing.T, f *FSM, key, value string) {
	t.Helper()
	v, err := f.Get([]byte(key))
	if value == "" {
		if !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("Get(%s) = %q, %v, want not found", key, v, err)
		}
		return
	}
	if err != nil || string(v) != value {
		t.Fatalf("Get(%s) = %q, %v, want %q", key, v, err, value)
	}
}

func TestFSMApply(t *testing.T) {
	dir := t.TempDir()
	f := openFSM(t, dir)
	resp := f.ApplyBatch([]*raft.Log{
		cmdLog(1, PutCommand([]byte("a"), []byte("1"))),
		cmdLog(2, PutCommand([]byte("b"), []byte("2"))),
		{Index: 3, Type: raft.LogConfiguration, Data: []byte("not a command")},
		cmdLog(4, DeleteCommand([]byte("a"))),
		cmdLog(5, []byte("garbage")),
	})
	for i, r := range resp {
		if i == 4 {
			if err, _ := r.(error); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("response to garbage: %v", r)
			}
		} else if r != nil {
			t.Fatalf("response %d: %v", i, r)
		}
	}
	if f.AppliedIndex() != 5 {
		t.Fatalf("applied %d, want 5", f.AppliedIndex())
	}
	wantValue(t, f, "a", "")
	wantValue(t, f, "b", "2")

	// Raft replays entries after its last snapshot on restart: the ones
	// the state holds are skipped (a put replayed would bring "a" back).
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = openFSM(t, dir)
	defer f.Close()
	if f.AppliedIndex() != 5 {
		t.Fatalf("applied %d after reopen, want 5", f.AppliedIndex())
	}
	if r := f.Apply(cmdLog(1, PutCommand([]byte("a"), []byte("1")))); r != nil {
		t.Fatal(r)
	}
	wantValue(t, f, "a", "")
	if r := f.Apply(cmdLog(6, PutCommand([]byte("c"), []byte("3")))); r != nil {
		t.Fatal(r)
	}
	wantValue(t, f, "c", "3")
}

func takeSnapshot(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func TestFSMSnapshotRestore(t *testing.T) {
	src := openFSM(t, t.TempDir())
	defer src.Close()
	var logs []*raft.Log
	for i := 1; i <= 3000; i++ {
		logs = append(logs, cmdLog(uint64(i), PutCommand(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{byte(i)}, 100))))
	}
	src.ApplyBatch(logs[:2000])
	snap := takeSnapshot(t, src)
	// Entries applied after the snapshot was taken are not in it.
	src.ApplyBatch(logs[2000:])
	if entries, err := os.ReadDir(filepath.Join(src.dir, fsmSnapshots)); err != nil || len(entries) != 0 {
		t.Fatalf("released snapshots left %v, %v", entries, err)
	}

	dstDir := t.TempDir()
	dst := openFSM(t, dstDir)
	dst.Apply(cmdLog(1, PutCommand([]byte("stale"), []byte("x"))))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	check := func(f *FSM) {
		t.Helper()
		if f.AppliedIndex() != 2000 {
			t.Fatalf("applied %d after restore, want 2000", f.AppliedIndex())
		}
		wantValue(t, f, "stale", "")
		wantValue(t, f, "k00001", string(bytes.Repeat([]byte{1}, 100)))
		wantValue(t, f, "k02000", string(bytes.Repeat([]byte{2000 % 256}, 100)))
		wantValue(t, f, "k02001", "")
	}
	check(dst)
	if dst.Restores() != 1 {
		t.Fatalf("Restores() = %d", dst.Restores())
	}
	dst.Close()
	dst = openFSM(t, dstDir)
	defer dst.Close()
	check(dst)

	// A stream that is not a snapshot leaves the state as it was.
	for _, bad := range [][]byte{nil, []byte("not a tar stream at all"), snap[:len(snap)/2]} {
		if err := dst.Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("Restore of %d bad bytes: %v, want ErrBadSnapshot", len(bad), err)
		}
		check(dst)
	}
}

// TestFSMRestoreInterrupted: a crash between Restore's two renames leaves
// state.old and no state; OpenFSM goes back to the old state.
func TestFSMRestoreInterrupted(t *testing.T) {
	dir := t.TempDir()
	f := openFSM(t, dir)
	f.Apply(cmdLog(1, PutCommand([]byte("a"), []byte("1"))))
	f.Close()
	if err := os.Rename(filepath.Join(dir, fsmState), filepath.Join(dir, fsmStateOld)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, fsmRestore), 0o755); err != nil {
		t.Fatal(err)
	}
	f = openFSM(t, dir)
	defer f.Close()
	wantValue(t, f, "a", "1")
	for _, name := range []string{fsmStateOld, fsmRestore} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", name, err)
		}
	}
}
