package vfs

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// failOnly returns an injector failing every op of kind op with err.
func failOnly(op Op, err error) Injector {
	return InjectorFunc(func(o Op, name string) error {
		if o == op {
			return err
		}
		return nil
	})
}

func TestFaultPerOp(t *testing.T) {
	setup := func(t *testing.T) *MemFS {
		m := NewMem()
		mustNil(t, m.MkdirAll("d"))
		writeFile(t, m, "d/f", "abc", true)
		mustNil(t, m.SyncDir("d"))
		mustNil(t, m.SyncDir("/"))
		return m
	}
	// openF opens d/f through ffs, writable but not truncated.
	openF := func(t *testing.T, ffs *FaultFS) File {
		f, err := ffs.Open("d/f")
		mustNil(t, err)
		ff := f.(*faultFile)
		ff.inner.(*memFile).writable = true
		return f
	}
	tests := []struct {
		op    Op
		do    func(t *testing.T, ffs *FaultFS) []error // every call of the op
		check func(t *testing.T, m *MemFS)             // inner state is unchanged
	}{
		{OpCreate, func(t *testing.T, ffs *FaultFS) []error { _, err := ffs.Create("d/g"); return []error{err} },
			func(t *testing.T, m *MemFS) {
				if _, err := m.Stat("d/g"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("d/g created: %v", err)
				}
			}},
		{OpOpen, func(t *testing.T, ffs *FaultFS) []error { _, err := ffs.Open("d/f"); return []error{err} }, nil},
		{OpRead, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			defer f.Close()
			_, err1 := f.ReadAt(make([]byte, 1), 0)
			_, err2 := f.Read(make([]byte, 1))
			return []error{err1, err2}
		}, nil},
		{OpWrite, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			defer f.Close()
			_, err1 := f.WriteAt([]byte("X"), 0)
			_, err2 := f.Write([]byte("X"))
			return []error{err1, err2}
		}, func(t *testing.T, m *MemFS) {
			if got := readFile(t, m, "d/f"); got != "abc" {
				t.Errorf("d/f = %q", got)
			}
		}},
		{OpSync, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			defer f.Close()
			f.WriteAt([]byte("X"), 0)
			return []error{f.Sync()}
		}, func(t *testing.T, m *MemFS) {
			if got := readFile(t, m.CrashClone(), "d/f"); got != "abc" {
				t.Errorf("crashed d/f = %q", got)
			}
		}},
		{OpRename, func(t *testing.T, ffs *FaultFS) []error { return []error{ffs.Rename("d/f", "d/g")} },
			func(t *testing.T, m *MemFS) {
				if got := readFile(t, m, "d/f"); got != "abc" {
					t.Errorf("d/f = %q", got)
				}
			}},
		{OpRemove, func(t *testing.T, ffs *FaultFS) []error { return []error{ffs.Remove("d/f")} },
			func(t *testing.T, m *MemFS) {
				if got := readFile(t, m, "d/f"); got != "abc" {
					t.Errorf("d/f = %q", got)
				}
			}},
		{OpMkdir, func(t *testing.T, ffs *FaultFS) []error { return []error{ffs.MkdirAll("e")} },
			func(t *testing.T, m *MemFS) {
				if _, err := m.List("e"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("e created: %v", err)
				}
			}},
		{OpList, func(t *testing.T, ffs *FaultFS) []error { _, err := ffs.List("d"); return []error{err} }, nil},
		{OpLock, func(t *testing.T, ffs *FaultFS) []error { _, err := ffs.Lock("d/LOCK"); return []error{err} },
			func(t *testing.T, m *MemFS) {
				l, err := m.Lock("d/LOCK")
				mustNil(t, err)
				l.Close()
			}},
		{OpSyncDir, func(t *testing.T, ffs *FaultFS) []error {
			writeFile(t, ffs, "d/g", "new", true)
			return []error{ffs.SyncDir("d")}
		}, func(t *testing.T, m *MemFS) {
			if got := readFile(t, m.CrashClone(), "d/g"); got != "<absent>" {
				t.Errorf("crashed d/g = %q", got)
			}
		}},
		{OpStat, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			defer f.Close()
			_, err1 := f.Size()
			_, err2 := ffs.Stat("d/f")
			return []error{err1, err2}
		}, nil},
		{OpTruncate, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			defer f.Close()
			return []error{f.Truncate(1)}
		}, func(t *testing.T, m *MemFS) {
			if got := readFile(t, m, "d/f"); got != "abc" {
				t.Errorf("d/f = %q", got)
			}
		}},
		{OpClose, func(t *testing.T, ffs *FaultFS) []error {
			f := openF(t, ffs)
			err := f.Close()
			// The inner file is closed anyway.
			if _, rerr := f.(*faultFile).inner.Read(make([]byte, 1)); !errors.Is(rerr, fs.ErrClosed) {
				t.Errorf("inner file still open: %v", rerr)
			}
			return []error{err}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			m := setup(t)
			// The same call with no injection succeeds.
			for i, err := range tt.do(t, NewFaultFS(setup(t), failOnly(tt.op, nil))) {
				if err != nil {
					t.Fatalf("call %d without injection: %v", i, err)
				}
			}
			for i, err := range tt.do(t, NewFaultFS(m, failOnly(tt.op, ErrInjected))) {
				if !errors.Is(err, ErrInjected) {
					t.Fatalf("call %d: err = %v, want ErrInjected", i, err)
				}
				if !strings.Contains(err.Error(), tt.op.String()) {
					t.Errorf("call %d: error %q does not name the op", i, err)
				}
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestOpString(t *testing.T) {
	seen := map[string]bool{}
	for op := OpCreate; op <= OpClose; op++ {
		s := op.String()
		if strings.HasPrefix(s, "Op(") || seen[s] {
			t.Errorf("op %d has name %q", int(op), s)
		}
		seen[s] = true
	}
	if got := Op(99).String(); got != "Op(99)" {
		t.Errorf("Op(99) = %q", got)
	}
}

func TestFailAt(t *testing.T) {
	m := NewMem()
	inj := FailAt(2) // default: ops that write
	ffs := NewFaultFS(m, inj)
	f, err := ffs.Create("a") // write op #0
	mustNil(t, err)
	if _, err := ffs.List("/"); err != nil { // not counted
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil || errors.Is(err, ErrInjected) {
		t.Fatalf("read: %v", err) // not counted; io.EOF from the empty file
	}
	if _, err := f.Write([]byte("x")); err != nil { // #1
		t.Fatal(err)
	}
	if inj.Fired() || inj.Count() != 2 {
		t.Fatalf("fired=%v count=%d before n", inj.Fired(), inj.Count())
	}
	if err := f.Sync(); !errors.Is(err, ErrInjected) { // #2 fails
		t.Fatalf("sync: %v", err)
	}
	if !inj.Fired() {
		t.Fatal("not fired")
	}
	// Every later matching op fails too; others still work.
	if err := ffs.SyncDir("/"); !errors.Is(err, ErrInjected) {
		t.Fatalf("syncdir: %v", err)
	}
	if _, err := ffs.Stat("a"); err != nil {
		t.Fatalf("stat: %v", err)
	}
	if inj.Count() != 4 {
		t.Fatalf("count = %d", inj.Count())
	}

	// Explicit op sets count only those ops.
	inj = FailAt(0, OpRead)
	ffs = NewFaultFS(m, inj)
	f, err = ffs.Create("b")
	mustNil(t, err)
	_, err = f.Write([]byte("x"))
	mustNil(t, err)
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrInjected) {
		t.Fatalf("read: %v", err)
	}
	if inj.Count() != 1 {
		t.Fatalf("count = %d", inj.Count())
	}
}

// commitWorkload writes dir/CURRENT durably with the write-temp, sync,
// rename, sync-directory dance. A nil error acknowledges the commit.
func commitWorkload(fsys FS, dir, contents string) error {
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	f, err := fsys.Create(dir + "/CURRENT.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(contents)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(dir+"/CURRENT.tmp", dir+"/CURRENT"); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

// TestFailAtLoop runs the "fail at operation i" loop over a small commit
// protocol: each run must report the failure, and a crash afterwards must
// leave either the old or the new contents, never a torn file; once the
// commit is acknowledged the new contents must survive.
func TestFailAtLoop(t *testing.T) {
	base := NewMem()
	mustNil(t, commitWorkload(base, "db", "old"))
	mustNil(t, base.SyncDir("/"))
	base = base.CrashClone()
	runs := 0
	for i := int64(0); ; i++ {
		m := base.CrashClone()
		inj := FailAt(i)
		err := commitWorkload(NewFaultFS(m, inj), "db", "new")
		runs++
		got := readFile(t, m.CrashClone(), "db/CURRENT")
		if !inj.Fired() {
			if err != nil {
				t.Fatalf("run %d: no injection but err %v", i, err)
			}
			if got != "new" {
				t.Fatalf("run %d: acknowledged commit lost: %q", i, got)
			}
			break
		}
		if !errors.Is(err, ErrInjected) {
			t.Fatalf("run %d: failure not reported: %v", i, err)
		}
		if got != "old" && got != "new" {
			t.Fatalf("run %d: CURRENT after crash = %q", i, got)
		}
		if i > 100 {
			t.Fatal("loop does not terminate")
		}
	}
	// MkdirAll, Create, Write, Sync, Rename, SyncDir: six write ops.
	if runs != 7 {
		t.Fatalf("runs = %d, want 7", runs)
	}
}

func TestShortWrite(t *testing.T) {
	for _, useWriteAt := range []bool{false, true} {
		m := NewMem()
		inj := FailAt(1, OpWrite).WithError(ErrShortWrite)
		ffs := NewFaultFS(m, inj)
		f, err := ffs.Create("wal")
		mustNil(t, err)
		_, err = f.Write([]byte("first|"))
		mustNil(t, err)
		var n int
		if useWriteAt {
			n, err = f.WriteAt([]byte("0123456789"), 6)
		} else {
			n, err = f.Write([]byte("0123456789"))
		}
		if n != 5 {
			t.Errorf("writeAt=%v: n = %d, want 5", useWriteAt, n)
		}
		for _, want := range []error{syscall.ENOSPC, ErrShortWrite, ErrInjected} {
			if !errors.Is(err, want) {
				t.Errorf("writeAt=%v: err %v does not wrap %v", useWriteAt, err, want)
			}
		}
		f.Close()
		if got := readFile(t, m, "wal"); got != "first|01234" {
			t.Errorf("writeAt=%v: file = %q, want the prefix", useWriteAt, got)
		}
	}
}

func TestNoSpace(t *testing.T) {
	m := NewMem()
	ffs := NewFaultFS(m, FailAt(0, OpWrite, OpCreate).WithError(ErrNoSpace))
	if _, err := ffs.Create("x"); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Fatalf("create: %v", err)
	}
	ffs = NewFaultFS(m, FailAt(0, OpWrite).WithError(ErrNoSpace))
	f, err := ffs.Create("x")
	mustNil(t, err)
	n, err := f.Write([]byte("abc"))
	if n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write: %d %v", n, err)
	}
	if errors.Is(err, ErrShortWrite) {
		t.Fatal("ENOSPC error counts as a short write")
	}
	if got := readFile(t, m, "x"); got != "" {
		t.Fatalf("file = %q", got)
	}
}

// TestFaultFSOverOS checks the wrapper passes through to the real
// filesystem.
func TestFaultFSOverOS(t *testing.T) {
	dir := t.TempDir()
	inj := FailAt(1 << 40)
	mustNil(t, commitWorkload(NewFaultFS(Default(), inj), dir+"/db", "v"))
	if got := readFile(t, Default(), dir+"/db/CURRENT"); got != "v" {
		t.Fatalf("CURRENT = %q", got)
	}
	if inj.Fired() || inj.Count() == 0 {
		t.Fatalf("fired=%v count=%d", inj.Fired(), inj.Count())
	}
}
