package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// writeFile creates name with contents data, optionally syncing the file.
func writeFile(t *testing.T, fsys FS, name, data string, sync bool) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the contents of name, or "<absent>" when it does not
// exist.
func readFile(t *testing.T, fsys FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openRW opens an existing MemFS file for writing without truncating it,
// which the FS interface cannot do.
func openRW(t *testing.T, m *MemFS, name string) *memFile {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	mustNil(t, err)
	return &memFile{n: n, name: name, writable: true}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMemCrashClone(t *testing.T) {
	type step func(t *testing.T, m *MemFS)
	create := func(name, data string, sync bool) step {
		return func(t *testing.T, m *MemFS) { writeFile(t, m, name, data, sync) }
	}
	syncDir := func(dir string) step {
		return func(t *testing.T, m *MemFS) { mustNil(t, m.SyncDir(dir)) }
	}
	rename := func(a, b string) step {
		return func(t *testing.T, m *MemFS) { mustNil(t, m.Rename(a, b)) }
	}
	remove := func(name string) step {
		return func(t *testing.T, m *MemFS) { mustNil(t, m.Remove(name)) }
	}
	mkdir := func(dir string) step {
		return func(t *testing.T, m *MemFS) { mustNil(t, m.MkdirAll(dir)) }
	}
	appendTo := func(name, data string, sync bool) step {
		return func(t *testing.T, m *MemFS) {
			w := openRW(t, m, name)
			size, err := w.Size()
			mustNil(t, err)
			_, err = w.WriteAt([]byte(data), size)
			mustNil(t, err)
			if sync {
				mustNil(t, w.Sync())
			}
			mustNil(t, w.Close())
		}
	}

	tests := []struct {
		name  string
		steps []step
		want  map[string]string // file -> contents after the crash
	}{
		{
			name:  "created not dir-synced is absent",
			steps: []step{create("a", "hello", true)},
			want:  map[string]string{"a": "<absent>"},
		},
		{
			name:  "dir-synced but data unsynced is empty",
			steps: []step{create("a", "hello", false), syncDir("/")},
			want:  map[string]string{"a": ""},
		},
		{
			name:  "synced and dir-synced survives",
			steps: []step{create("a", "hello", true), syncDir("")},
			want:  map[string]string{"a": "hello"},
		},
		{
			name: "data after last sync is lost",
			steps: []step{
				create("a", "hello", true), syncDir("/"),
				appendTo("a", " world", false),
			},
			want: map[string]string{"a": "hello"},
		},
		{
			name: "second sync keeps appended data",
			steps: []step{
				create("a", "hello", true), syncDir("/"),
				appendTo("a", " world", true),
			},
			want: map[string]string{"a": "hello world"},
		},
		{
			name: "overwrite of synced bytes is lost",
			steps: []step{
				create("a", "hello", true), syncDir("/"),
				func(t *testing.T, m *MemFS) {
					w := openRW(t, m, "a")
					_, err := w.WriteAt([]byte("J"), 0)
					mustNil(t, err)
					mustNil(t, w.Truncate(2))
					mustNil(t, w.Truncate(8))
				},
			},
			want: map[string]string{"a": "hello"},
		},
		{
			// Shrinking then growing must not zero the synced bytes that
			// the shrink hid.
			name: "shrink then extend after sync is lost",
			steps: []step{
				create("a", "hello", true), syncDir("/"),
				func(t *testing.T, m *MemFS) {
					w := openRW(t, m, "a")
					mustNil(t, w.Truncate(2))
					_, err := w.WriteAt([]byte("Z"), 6)
					mustNil(t, err)
					mustNil(t, w.Close())
					if got := readFile(t, m, "a"); got != "he\x00\x00\x00\x00Z" {
						t.Fatalf("live contents %q", got)
					}
				},
			},
			want: map[string]string{"a": "hello"},
		},
		{
			name: "recreate truncation not synced",
			steps: []step{
				create("a", "hello", true), syncDir("/"),
				create("a", "bye", false),
			},
			want: map[string]string{"a": "hello"},
		},
		{
			name: "rename not dir-synced is undone",
			steps: []step{
				create("CURRENT", "old", true), syncDir("/"),
				create("CURRENT.tmp", "new", true),
				rename("CURRENT.tmp", "CURRENT"),
			},
			want: map[string]string{"CURRENT": "old", "CURRENT.tmp": "<absent>"},
		},
		{
			name: "rename dir-synced is applied",
			steps: []step{
				create("CURRENT", "old", true), syncDir("/"),
				create("CURRENT.tmp", "new", true),
				rename("CURRENT.tmp", "CURRENT"),
				syncDir("/"),
			},
			want: map[string]string{"CURRENT": "new", "CURRENT.tmp": "<absent>"},
		},
		{
			name: "remove not dir-synced is undone",
			steps: []step{
				create("a", "x", true), syncDir("/"), remove("a"),
			},
			want: map[string]string{"a": "x"},
		},
		{
			name: "remove dir-synced is durable",
			steps: []step{
				create("a", "x", true), syncDir("/"), remove("a"), syncDir("/"),
			},
			want: map[string]string{"a": "<absent>"},
		},
		{
			name: "new directory needs its parent synced",
			steps: []step{
				mkdir("db"), create("db/a", "x", true), syncDir("db"),
			},
			want: map[string]string{"db/a": "<absent>"},
		},
		{
			name: "new directory with parent synced",
			steps: []step{
				mkdir("db"), syncDir("/"), create("db/a", "x", true), syncDir("db"),
			},
			want: map[string]string{"db/a": "x"},
		},
		{
			name: "syncing a directory does not sync subdirectories",
			steps: []step{
				mkdir("db/sub"), syncDir("db"), syncDir("/"),
				create("db/sub/a", "x", true), syncDir("db"),
			},
			want: map[string]string{"db/sub/a": "<absent>"},
		},
		{
			name: "cross-directory rename with only target synced",
			steps: []step{
				mkdir("a"), mkdir("b"), syncDir("/"),
				create("a/f", "x", true), syncDir("a"),
				rename("a/f", "b/f"), syncDir("b"),
			},
			want: map[string]string{"a/f": "x", "b/f": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			for _, s := range tt.steps {
				s(t, m)
			}
			c := m.CrashClone()
			for name, want := range tt.want {
				if got := readFile(t, c, name); got != want {
					t.Errorf("%s after crash = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestMemCrashCloneIsIndependent(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "a", "one", true)
	mustNil(t, m.SyncDir("/"))
	c := m.CrashClone()
	// Changes to either side do not show in the other.
	writeFile(t, m, "a", "two", true)
	writeFile(t, c, "b", "three", true)
	if got := readFile(t, c, "a"); got != "one" {
		t.Fatalf("clone a = %q", got)
	}
	if got := readFile(t, m, "b"); got != "<absent>" {
		t.Fatalf("original b = %q", got)
	}
	// Everything in a clone counts as durable: a second crash keeps it.
	if got := readFile(t, c.CrashClone(), "a"); got != "one" {
		t.Fatalf("clone of clone a = %q", got)
	}
	// A lock does not survive the crash.
	l, err := m.Lock("LOCK")
	mustNil(t, err)
	defer l.Close()
	mustNil(t, m.SyncDir("/"))
	c2 := m.CrashClone()
	l2, err := c2.Lock("LOCK")
	mustNil(t, err)
	l2.Close()
}

func TestMemFileOps(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	mustNil(t, err)
	_, err = f.WriteAt([]byte("xyz"), 5)
	mustNil(t, err)
	size, err := f.Size()
	mustNil(t, err)
	if size != 8 {
		t.Fatalf("size = %d", size)
	}
	buf := make([]byte, 8)
	n, err := f.ReadAt(buf, 0)
	if n != 8 || err != nil || !bytes.Equal(buf, []byte("\x00\x00\x00\x00\x00xyz")) {
		t.Fatalf("ReadAt = %d %v %q", n, err, buf)
	}
	n, err = f.ReadAt(buf, 6)
	if n != 2 || err != io.EOF {
		t.Fatalf("short ReadAt = %d %v", n, err)
	}
	// Write and Read share the offset, which WriteAt does not move.
	_, err = f.Write([]byte("ab"))
	mustNil(t, err)
	n, err = f.Read(buf)
	if n != 6 || err != nil || string(buf[:6]) != "\x00\x00\x00xyz" {
		t.Fatalf("Read = %d %v %q", n, err, buf[:n])
	}
	if n, err = f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at EOF = %d %v", n, err)
	}
	mustNil(t, f.Truncate(3))
	mustNil(t, f.Truncate(6))
	n, _ = f.ReadAt(buf, 0)
	if string(buf[:n]) != "ab\x00\x00\x00\x00" {
		t.Fatalf("after truncate = %q", buf[:n])
	}
	if sz, err := m.Stat("f"); err != nil || sz != 6 {
		t.Fatalf("Stat = %d %v", sz, err)
	}
	mustNil(t, f.Close())
	if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("double close: %v", err)
	}

	// Open is read-only.
	r, err := m.Open("f")
	mustNil(t, err)
	if _, err := r.Write([]byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write to read-only file: %v", err)
	}
	if err := r.Truncate(0); err == nil {
		t.Fatal("truncate of read-only file succeeded")
	}
	// A removed file stays readable through an open handle.
	mustNil(t, m.Remove("f"))
	n, err = r.ReadAt(buf[:2], 0)
	if n != 2 || err != nil || string(buf[:2]) != "ab" {
		t.Fatalf("read of removed file = %d %v", n, err)
	}
	mustNil(t, r.Close())
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	mustNil(t, m.MkdirAll("d/e"))
	writeFile(t, m, "d/f", "x", false)
	writeFile(t, m, "d/e/g", "x", false)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"open missing", func() error { _, err := m.Open("nope"); return err }(), fs.ErrNotExist},
		{"stat missing", func() error { _, err := m.Stat("d/nope"); return err }(), fs.ErrNotExist},
		{"list missing", func() error { _, err := m.List("nope"); return err }(), fs.ErrNotExist},
		{"list file", func() error { _, err := m.List("d/f"); return err }(), syscall.ENOTDIR},
		{"create in missing dir", func() error { _, err := m.Create("x/y"); return err }(), fs.ErrNotExist},
		{"create under file", func() error { _, err := m.Create("d/f/y"); return err }(), syscall.ENOTDIR},
		{"create dir", func() error { _, err := m.Create("d/e"); return err }(), syscall.EISDIR},
		{"open dir", func() error { _, err := m.Open("d"); return err }(), syscall.EISDIR},
		{"remove missing", m.Remove("d/nope"), fs.ErrNotExist},
		{"remove non-empty dir", m.Remove("d/e"), syscall.ENOTEMPTY},
		{"rename missing", m.Rename("nope", "d/x"), fs.ErrNotExist},
		{"rename into missing dir", m.Rename("d/f", "x/y"), fs.ErrNotExist},
		{"rename file over dir", m.Rename("d/f", "d/e"), syscall.EISDIR},
		{"rename dir below itself", m.Rename("d", "d/e/z"), syscall.EINVAL},
		{"mkdir through file", m.MkdirAll("d/f/z"), syscall.ENOTDIR},
		{"syncdir missing", m.SyncDir("nope"), fs.ErrNotExist},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	// Removing an empty directory works, as does MkdirAll of an existing one.
	mustNil(t, m.MkdirAll("d/e"))
	mustNil(t, m.Remove("d/e/g"))
	mustNil(t, m.Remove("d/e"))
	if _, err := m.List("d/e"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed dir: %v", err)
	}
	// Paths are cleaned; relative and absolute names agree.
	if got := readFile(t, m, "/d/./e/../f"); got != "x" {
		t.Fatalf("cleaned path read %q", got)
	}
}

func TestMemListSorted(t *testing.T) {
	m := NewMem()
	mustNil(t, m.MkdirAll("db/sub"))
	names := []string{"zeta", "000010.sst", "MANIFEST-000001", "000002.log", "CURRENT", "a"}
	for _, n := range names {
		writeFile(t, m, "db/"+n, "", false)
	}
	got, err := m.List("db")
	mustNil(t, err)
	want := append(slices.Clone(names), "sub")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	root, err := m.List("/")
	mustNil(t, err)
	if !slices.Equal(root, []string{"db"}) {
		t.Fatalf("List(/) = %v", root)
	}
	mustNil(t, m.Rename("db/zeta", "db/b"))
	got, _ = m.List("db")
	if !slices.IsSorted(got) || slices.Contains(got, "zeta") || !slices.Contains(got, "b") {
		t.Fatalf("after rename List = %v", got)
	}
}

func TestMemLock(t *testing.T) {
	m := NewMem()
	mustNil(t, m.MkdirAll("db"))
	l1, err := m.Lock("db/LOCK")
	mustNil(t, err)
	if _, err := m.Lock("db/LOCK"); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("second Lock: %v", err)
	}
	if _, err := m.Lock("/db/./LOCK"); err == nil {
		t.Fatal("second Lock by another spelling succeeded")
	}
	// Lock created the file.
	if _, err := m.Stat("db/LOCK"); err != nil {
		t.Fatal(err)
	}
	// Another name locks independently.
	l2, err := m.Lock("db/OTHER")
	mustNil(t, err)
	mustNil(t, l2.Close())
	mustNil(t, l1.Close())
	mustNil(t, l1.Close()) // closing twice is harmless
	l3, err := m.Lock("db/LOCK")
	mustNil(t, err)
	mustNil(t, l3.Close())
}

func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	mustNil(t, m.MkdirAll("db"))
	shared, err := m.Create("db/shared")
	mustNil(t, err)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			block := bytes.Repeat([]byte{byte('a' + g)}, 64)
			for i := 0; i < 200; i++ {
				name := fmt.Sprintf("db/%d-%d", g, i%5)
				f, err := m.Create(name)
				if err != nil {
					t.Error(err)
					return
				}
				f.Write(block)
				f.Sync()
				f.Close()
				m.Rename(name, name+".x")
				m.List("db")
				m.Stat(name + ".x")
				m.Remove(name + ".x")
				m.SyncDir("db")
				if i%20 == 0 {
					c := m.CrashClone()
					c.List("db")
				}
				// Concurrent use of one file.
				shared.WriteAt(block, int64(g*64))
				buf := make([]byte, 64)
				shared.ReadAt(buf, int64(g*64))
				if !bytes.Equal(buf, block) {
					t.Errorf("goroutine %d read back %q", g, buf)
					return
				}
				if i%10 == 0 {
					shared.Sync()
				}
				if l, err := m.Lock("db/LOCK"); err == nil {
					l.Close()
				}
			}
		}()
	}
	wg.Wait()
	mustNil(t, shared.Close())
}

func TestMemCrashCloneTorn(t *testing.T) {
	m := NewMem()
	f, err := m.Create("log")
	mustNil(t, err)
	_, err = f.Write([]byte("synced|"))
	mustNil(t, err)
	mustNil(t, f.Sync())
	_, err = f.Write([]byte("unsynced"))
	mustNil(t, err)
	writeFile(t, m, "rewritten", "old", true)
	g, err := m.Create("rewritten") // truncated, then shorter: not an append
	mustNil(t, err)
	_, err = g.Write([]byte("n"))
	mustNil(t, err)
	mustNil(t, m.SyncDir("/"))
	var asked []string
	c := m.CrashCloneTorn(func(name string, unsynced int) int {
		asked = append(asked, fmt.Sprintf("%s:%d", name, unsynced))
		return 2
	})
	if got := readFile(t, c, "log"); got != "synced|un" {
		t.Fatalf("torn log = %q", got)
	}
	if got := readFile(t, c, "rewritten"); got != "old" {
		t.Fatalf("rewritten = %q", got)
	}
	if !slices.Equal(asked, []string{"log:8"}) {
		t.Fatalf("keep asked about %v", asked)
	}
	// Out-of-range answers are clamped.
	c = m.CrashCloneTorn(func(string, int) int { return 100 })
	if got := readFile(t, c, "log"); got != "synced|unsynced" {
		t.Fatalf("keep all = %q", got)
	}
	if got := readFile(t, m.CrashClone(), "log"); got != "synced|" {
		t.Fatalf("CrashClone = %q", got)
	}
}

func TestMemCrashClonePages(t *testing.T) {
	m := NewMem()
	f, err := m.Create("log")
	mustNil(t, err)
	synced := bytes.Repeat([]byte{'s'}, 5000)
	_, err = f.Write(synced)
	mustNil(t, err)
	mustNil(t, f.Sync())
	unsynced := bytes.Repeat([]byte{'u'}, 3*CrashPageSize)
	_, err = f.Write(unsynced)
	mustNil(t, err)
	mustNil(t, m.SyncDir("/"))
	for _, tc := range []struct {
		keep []int // pages kept
		want string
	}{
		{nil, string(synced)},
		// Page 1 holds the boundary: its synced part survives, its
		// unsynced part is zeros under the kept page 2.
		{[]int{2}, string(synced) + strings.Repeat("\x00", 2*CrashPageSize-5000) + strings.Repeat("u", CrashPageSize)},
		{[]int{1}, string(synced) + strings.Repeat("u", 2*CrashPageSize-5000)},
		{[]int{1, 3}, string(synced) + strings.Repeat("u", 2*CrashPageSize-5000) + strings.Repeat("\x00", CrashPageSize) + strings.Repeat("u", CrashPageSize)},
	} {
		c := m.CrashClonePages(func(name string, page int) bool { return slices.Contains(tc.keep, page) })
		if got := readFile(t, c, "log"); got != tc.want {
			t.Fatalf("keep %v: %d bytes, want %d", tc.keep, len(got), len(tc.want))
		}
	}
}

func TestMemOpenReadWrite(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "f", "hello world", true)
	mustNil(t, m.SyncDir("/"))
	f, err := m.OpenReadWrite("f")
	mustNil(t, err)
	mustNil(t, f.Truncate(5))
	mustNil(t, f.Sync())
	mustNil(t, f.Close())
	if got := readFile(t, m.CrashClone(), "f"); got != "hello" {
		t.Fatalf("after truncate and sync: %q", got)
	}
	if _, err := m.OpenReadWrite("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
