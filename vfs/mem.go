package vfs

import (
	"bytes"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// MemFS is an in-memory filesystem that remembers what a power cut would
// keep, so tests can check every durability claim without a real crash.
//
// Paths are slash-separated and cleaned; a relative path is resolved from the
// root, so "db/LOCK" and "/db/LOCK" name the same file. The root directory
// always exists; every other directory exists only after MkdirAll.
//
// The durability model is strict, like a filesystem that loses everything it
// is allowed to lose:
//
//   - The contents of a file survive a crash only up to its last File.Sync:
//     writes and truncations after it are lost.
//   - A directory's entries (files and subdirectories created, renamed or
//     removed in it) survive only as of its last SyncDir. Before that the
//     crash keeps the directory as it was: a new name is absent, a removed
//     name is back, a rename is undone (or, when source and target
//     directories differ and only one was synced, half done: the file may
//     then have both names, or neither).
//   - A directory made by MkdirAll is itself an entry of its parent, so it
//     survives only once the parent has been synced with SyncDir.
//
// CrashClone returns the state a crash at that moment would leave. The
// original MemFS keeps running unchanged.
//
// MemFS is safe for concurrent use. Errors are *fs.PathError values that
// satisfy errors.Is with fs.ErrNotExist, fs.ErrExist, fs.ErrClosed and the
// syscall errno values the os package would report (ENOTDIR, EISDIR,
// ENOTEMPTY, EBADF, EINVAL, EWOULDBLOCK).
type MemFS struct {
	mu sync.Mutex
	// root is the root directory. The tree structure (children and
	// syncedChildren of every directory) is guarded by mu.
	root *memNode
	// locks holds the files locked with Lock. Guarded by mu.
	locks map[*memNode]struct{}
}

var _ FS = (*MemFS)(nil)

// memNode is a file or directory. A node is the analogue of an inode: open
// files and directory entries point to it, so it outlives Remove while a
// handle is open and keeps its identity across Rename.
type memNode struct {
	isDir bool

	// Directory fields, guarded by MemFS.mu.
	children       map[string]*memNode // current entries
	syncedChildren map[string]*memNode // entries as of the last SyncDir

	// File fields.
	mu sync.Mutex
	// data is the current contents. Guarded by mu.
	data []byte
	// syncedData is the contents as of the last Sync. Guarded by mu. It is
	// never modified in place: a Sync replaces it.
	syncedData []byte
	// shared is true while data and syncedData share a backing array (set
	// by Sync to avoid copying the whole file at every fsync). While it is
	// true, bytes of data below len(syncedData) must not be overwritten:
	// writeRange copies data first. Appends beyond the synced length are
	// harmless. Guarded by mu.
	shared bool
}

func newDirNode() *memNode {
	return &memNode{
		isDir:          true,
		children:       make(map[string]*memNode),
		syncedChildren: make(map[string]*memNode),
	}
}

// NewMem returns an empty in-memory filesystem holding only the root
// directory.
func NewMem() *MemFS {
	return &MemFS{root: newDirNode(), locks: make(map[*memNode]struct{})}
}

// splitPath cleans name and returns its components below the root; the root
// itself has none.
func splitPath(name string) []string {
	p := path.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// walkDir returns the directory named by parts. The caller holds m.mu.
func (m *MemFS) walkDir(parts []string) (*memNode, error) {
	n := m.root
	for _, p := range parts {
		c, ok := n.children[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		if !c.isDir {
			return nil, syscall.ENOTDIR
		}
		n = c
	}
	return n, nil
}

// parentOf returns the directory holding name and name's last component. The
// caller holds m.mu. Naming the root is an error (EINVAL).
func (m *MemFS) parentOf(name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", syscall.EINVAL
	}
	dir, err := m.walkDir(parts[:len(parts)-1])
	if err != nil {
		return nil, "", err
	}
	return dir, parts[len(parts)-1], nil
}

// lookup returns the node named name. The caller holds m.mu.
func (m *MemFS) lookup(name string) (*memNode, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return m.root, nil
	}
	dir, err := m.walkDir(parts[:len(parts)-1])
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[parts[len(parts)-1]]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return n, nil
}

// Create creates name, or truncates it if it exists, and opens it for reading
// and writing. Truncating an existing file keeps its identity (as O_TRUNC
// does): the truncation becomes durable at the next Sync of the file.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentOf(name)
	if err != nil {
		if err == syscall.EINVAL {
			err = syscall.EISDIR
		}
		return nil, pathErr("create", name, err)
	}
	n, ok := dir.children[base]
	switch {
	case ok && n.isDir:
		return nil, pathErr("create", name, syscall.EISDIR)
	case ok:
		n.mu.Lock()
		n.data = nil
		n.shared = false
		n.mu.Unlock()
	default:
		n = &memNode{}
		dir.children[base] = n
	}
	return &memFile{n: n, name: name, writable: true}, nil
}

// Open opens an existing file for reading. Writes and truncations through the
// returned file fail, as they do for os.Open.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if n.isDir {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	return &memFile{n: n, name: name}, nil
}

// OpenReadWrite opens an existing file for reading and writing, keeping its
// contents.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	f, err := m.Open(name)
	if err != nil {
		return nil, err
	}
	f.(*memFile).writable = true
	return f, nil
}

// Rename atomically gives oldname's file (or directory) the name newname,
// replacing a file already called newname. The change is durable once both
// parent directories have been synced with SyncDir.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.parentOf(oldname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	n, ok := odir.children[obase]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	ndir, nbase, err := m.parentOf(newname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if odir == ndir && obase == nbase {
		return nil
	}
	if n.isDir {
		// A directory may not move below itself.
		op, np := path.Clean("/"+oldname), path.Clean("/"+newname)
		if strings.HasPrefix(np, op+"/") {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EINVAL}
		}
	}
	if t, ok := ndir.children[nbase]; ok {
		switch {
		case t.isDir && !n.isDir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EISDIR}
		case !t.isDir && n.isDir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTDIR}
		case t.isDir && len(t.children) > 0:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTEMPTY}
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// Link gives the file oldname the second name newname: both name one
// node, so a write through either shows through the other and removing
// one leaves the other. The new entry is durable once its directory has
// been synced.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(oldname)
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	if n.isDir {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	dir, base, err := m.parentOf(newname)
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	if _, ok := dir.children[base]; ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	dir.children[base] = n
	return nil
}

// Remove deletes a file or an empty directory. Files open on it stay usable.
// The removal is durable once the parent directory has been synced.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentOf(name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	n, ok := dir.children[base]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.isDir && len(n.children) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(dir.children, base)
	return nil
}

// MkdirAll creates dir and any missing parents. Each new directory is durable
// once its parent has been synced with SyncDir.
func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range splitPath(dir) {
		c, ok := n.children[p]
		if !ok {
			c = newDirNode()
			n.children[p] = c
		} else if !c.isDir {
			return pathErr("mkdir", dir, syscall.ENOTDIR)
		}
		n = c
	}
	return nil
}

// List returns the names of the entries of dir, sorted.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkDir(splitPath(dir))
	if err != nil {
		return nil, pathErr("open", dir, err)
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Lock takes an exclusive lock on name, creating the file if needed. A second
// Lock of the same file on this MemFS fails with an error wrapping
// syscall.EWOULDBLOCK until the first lock is closed. Locks do not survive
// CrashClone, as flock locks do not survive a crash.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentOf(name)
	if err != nil {
		return nil, pathErr("lock", name, err)
	}
	n, ok := dir.children[base]
	if !ok {
		n = &memNode{}
		dir.children[base] = n
	} else if n.isDir {
		return nil, pathErr("lock", name, syscall.EISDIR)
	}
	if _, held := m.locks[n]; held {
		return nil, pathErr("lock", name, syscall.EWOULDBLOCK)
	}
	m.locks[n] = struct{}{}
	return &memLock{fs: m, n: n}, nil
}

type memLock struct {
	fs   *MemFS
	n    *memNode
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.n)
		l.fs.mu.Unlock()
	})
	return nil
}

// SyncDir makes the current entries of dir durable. It does not sync the
// contents of the files in it, nor the entries of its subdirectories.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkDir(splitPath(dir))
	if err != nil {
		return pathErr("sync", dir, err)
	}
	n.syncedChildren = maps.Clone(n.children)
	return nil
}

// Stat returns the size of the file name (0 for a directory).
func (m *MemFS) Stat(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return 0, pathErr("stat", name, err)
	}
	if n.isDir {
		return 0, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return int64(len(n.data)), nil
}

// CrashClone returns a new MemFS holding only what would survive a power cut
// at this moment: each directory with the entries of its last SyncDir, each
// file with the contents of its last Sync. Everything in the clone counts as
// synced. The receiver is not changed.
func (m *MemFS) CrashClone() *MemFS {
	return m.crashClone(nil)
}

// CrashCloneTorn is CrashClone on a disk that had written part of what was
// not yet synced, as real disks do: for each file whose unsynced contents
// extend its synced contents (an append), keep(name, unsynced) says how many
// of the unsynced bytes survive as well, from 0 to unsynced. name is the
// file's name in its directory. A nil keep keeps none.
func (m *MemFS) CrashCloneTorn(keep func(name string, unsynced int) int) *MemFS {
	if keep == nil {
		return m.crashClone(nil)
	}
	return m.crashClone(func(name string, synced int, extra []byte) []byte {
		return extra[:min(max(keep(name, len(extra)), 0), len(extra))]
	})
}

// CrashPageSize is the unit in which CrashClonePages keeps or loses
// unsynced data: the page of the operating system's page cache.
const CrashPageSize = 4096

// CrashClonePages is CrashClone on a disk that wrote back any subset of the
// unsynced pages, in any order, as the page cache does: for each file whose
// unsynced contents extend its synced contents (an append), keep(name,
// page) says whether the page-cache page number page (of CrashPageSize
// bytes, counted from the start of the file) reached the disk. A page that
// did not reads back as zeros if a later page did, and the file ends with
// the last page that did (a filesystem that had extended the file's size
// but not written its block gives zeros). The synced part of the page that
// holds the boundary survives whatever keep says.
func (m *MemFS) CrashClonePages(keep func(name string, page int) bool) *MemFS {
	return m.crashClone(func(name string, synced int, extra []byte) []byte {
		out := make([]byte, len(extra))
		n := 0 // bytes of out that survive
		for off := 0; off < len(extra); {
			abs := synced + off
			end := min(len(extra), (abs/CrashPageSize+1)*CrashPageSize-synced)
			if keep(name, abs/CrashPageSize) {
				copy(out[off:end], extra[off:end])
				n = end
			}
			off = end
		}
		return out[:n]
	})
}

// crashClone builds the clone; tail, if not nil, returns what survives of a
// file's unsynced extension extra, which starts at offset synced.
func (m *MemFS) crashClone(tail func(name string, synced int, extra []byte) []byte) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	// seen maps original nodes to their clones, so a node reachable under
	// two names (a half-durable rename) stays one node.
	seen := make(map[*memNode]*memNode)
	var clone func(name string, n *memNode) *memNode
	clone = func(name string, n *memNode) *memNode {
		if c, ok := seen[n]; ok {
			return c
		}
		c := &memNode{isDir: n.isDir}
		seen[n] = c
		if n.isDir {
			c.children = make(map[string]*memNode, len(n.syncedChildren))
			for name, child := range n.syncedChildren {
				c.children[name] = clone(name, child)
			}
			c.syncedChildren = maps.Clone(c.children)
			return c
		}
		n.mu.Lock()
		c.data = slices.Clone(n.syncedData)
		if tail != nil && len(n.data) > len(n.syncedData) && bytes.Equal(n.data[:len(n.syncedData)], n.syncedData) {
			c.data = append(c.data, tail(name, len(n.syncedData), n.data[len(n.syncedData):])...)
		}
		n.mu.Unlock()
		c.syncedData = c.data
		c.shared = true
		return c
	}
	return &MemFS{root: clone("", m.root), locks: make(map[*memNode]struct{})}
}

// memFile is an open file of a MemFS.
type memFile struct {
	n        *memNode
	name     string
	writable bool
	closed   atomic.Bool
	// pos is the offset for Read and Write. Guarded by n.mu.
	pos int64
}

var _ File = (*memFile)(nil)

func (f *memFile) check(op string, write bool) error {
	if f.closed.Load() {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	if write && !f.writable {
		if op == "truncate" {
			return pathErr(op, f.name, syscall.EINVAL)
		}
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

// writeRange prepares n.data for a write of length ln at off and returns the
// slice to copy into. The caller holds n.mu.
func (n *memNode) writeRange(off, ln int64) []byte {
	end := off + ln
	// The first byte this call changes: off, or the old end of the file
	// when the gap up to off is zero-filled.
	first := min(off, int64(len(n.data)))
	if n.shared && first < int64(len(n.syncedData)) && (ln > 0 || end > int64(len(n.data))) {
		n.data = slices.Clone(n.data)
		n.shared = false
	}
	if end > int64(len(n.data)) {
		old := len(n.data)
		n.data = slices.Grow(n.data, int(end)-old)[:end]
		// Bytes between the old end and off read as zeros; bytes past
		// the old length may hold stale data from an earlier truncation.
		clear(n.data[old:])
	}
	return n.data[off:end]
}

func (f *memFile) Read(p []byte) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[f.pos:])
	f.pos += int64(k)
	return k, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, syscall.EINVAL)
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if off >= int64(len(f.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	copy(f.n.writeRange(f.pos, int64(len(p))), p)
	f.pos += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, syscall.EINVAL)
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	copy(f.n.writeRange(off, int64(len(p))), p)
	return len(p), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	return nil
}

// Sync makes the file's current contents the ones a crash keeps.
func (f *memFile) Sync() error {
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	// Share the backing array instead of copying: writeRange copies before
	// overwriting any synced byte.
	f.n.syncedData = f.n.data[:len(f.n.data):len(f.n.data)]
	f.n.shared = true
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return int64(len(f.n.data)), nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
		return nil
	}
	f.n.writeRange(size, 0)
	return nil
}
