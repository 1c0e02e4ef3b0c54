package vfs

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
)

// Op is a kind of filesystem operation, as a FaultFS reports it to its
// Injector.
type Op int

// The operations a FaultFS can fail. Read and ReadAt are OpRead, Write and
// WriteAt are OpWrite, FS.Stat and File.Size are OpStat, MkdirAll is OpMkdir.
const (
	OpCreate Op = iota
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpRename
	OpRemove
	OpMkdir
	OpList
	OpLock
	OpSyncDir
	OpStat
	OpTruncate
	OpClose
	OpLink
	numOps
)

// String returns the operation's lower-case name, e.g. "syncdir".
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpOpen:
		return "open"
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpRename:
		return "rename"
	case OpRemove:
		return "remove"
	case OpMkdir:
		return "mkdir"
	case OpList:
		return "list"
	case OpLock:
		return "lock"
	case OpSyncDir:
		return "syncdir"
	case OpStat:
		return "stat"
	case OpTruncate:
		return "truncate"
	case OpClose:
		return "close"
	case OpLink:
		return "link"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// writeOps is the set (bit i for Op(i)) of operations that change the
// filesystem: the default set of FailAt.
const writeOps = 1<<OpCreate | 1<<OpWrite | 1<<OpSync | 1<<OpRename |
	1<<OpRemove | 1<<OpSyncDir | 1<<OpTruncate | 1<<OpMkdir | 1<<OpLink

// Injected errors. Every error a ready-made injector returns wraps
// ErrInjected, so a test can tell an injected failure from a real one with
// errors.Is(err, ErrInjected).
var (
	// ErrInjected is the error FailAt injects.
	ErrInjected = errors.New("vfs: injected error")
	// ErrShortWrite, returned by an Injector for OpWrite, makes a FaultFS
	// write the first half of the buffer (len(p)/2 bytes) and then fail
	// with an error that wraps both the injector's error and
	// syscall.ENOSPC, as a disk that fills up mid-write would. For any
	// other operation it is an ordinary error.
	ErrShortWrite = fmt.Errorf("%w: short write", ErrInjected)
	// ErrNoSpace is an ordinary injected error that wraps syscall.ENOSPC:
	// the operation fails without doing anything.
	ErrNoSpace = fmt.Errorf("%w: %w", ErrInjected, syscall.ENOSPC)
)

// Injector decides, for each operation of a FaultFS, whether it fails.
type Injector interface {
	// MaybeError returns the error op on name should fail with, or nil to
	// let it proceed. For Rename, name is the old name; for file
	// operations, the name the file was opened with. It may be called
	// from many goroutines at once.
	MaybeError(op Op, name string) error
}

// InjectorFunc adapts a function to the Injector interface.
type InjectorFunc func(op Op, name string) error

// MaybeError calls f(op, name).
func (f InjectorFunc) MaybeError(op Op, name string) error { return f(op, name) }

// CountingInjector fails every matching operation from the n-th on. Build it
// with FailAt. It is safe for concurrent use.
type CountingInjector struct {
	n     int64
	ops   uint32 // bit i set: Op(i) matches
	err   error
	count atomic.Int64
	fired atomic.Bool
}

// FailAt returns an injector under which the n-th (0-based) operation in ops,
// and every later one, fails with ErrInjected. With no ops it counts the
// operations that change the filesystem: Create, Write, Sync, Rename, Remove,
// SyncDir, Truncate and Mkdir.
//
// It drives the "fail at operation i" loop:
//
//	for i := int64(0); ; i++ {
//		inj := vfs.FailAt(i)
//		err := workload(vfs.NewFaultFS(vfs.NewMem(), inj))
//		if !inj.Fired() {
//			break // the workload finished with no failure injected
//		}
//		// check err reports the failure and nothing acknowledged is lost
//	}
func FailAt(n int64, ops ...Op) *CountingInjector {
	c := &CountingInjector{n: n, err: ErrInjected}
	if len(ops) == 0 {
		c.ops = writeOps
	}
	for _, op := range ops {
		c.ops |= 1 << uint(op)
	}
	return c
}

// WithError makes the injector fail with err (for example ErrShortWrite or
// ErrNoSpace) instead of ErrInjected, and returns it. Call it before the
// injector is in use.
func (c *CountingInjector) WithError(err error) *CountingInjector {
	c.err = err
	return c
}

// MaybeError counts op if it matches and fails it from the n-th match on.
func (c *CountingInjector) MaybeError(op Op, name string) error {
	if op < 0 || op >= numOps || c.ops&(1<<uint(op)) == 0 {
		return nil
	}
	if c.count.Add(1)-1 < c.n {
		return nil
	}
	c.fired.Store(true)
	return c.err
}

// Count returns the number of matching operations seen so far.
func (c *CountingInjector) Count() int64 { return c.count.Load() }

// Fired reports whether the injector has failed at least one operation.
func (c *CountingInjector) Fired() bool { return c.fired.Load() }

// FaultFS wraps a filesystem and asks an Injector before each operation
// whether it should fail. A failed operation does nothing (apart from the
// half write of ErrShortWrite) and returns the injector's error wrapped with
// the operation and name. Files it opens are wrapped the same way.
type FaultFS struct {
	inner FS
	inj   Injector
}

var _ FS = (*FaultFS)(nil)

// NewFaultFS returns inner wrapped so that inj can fail its operations.
func NewFaultFS(inner FS, inj Injector) *FaultFS {
	return &FaultFS{inner: inner, inj: inj}
}

// faultError is a failure a FaultFS injected.
type faultError struct {
	op   Op
	name string
	err  error
}

func (e *faultError) Error() string { return fmt.Sprintf("%s %s: %v", e.op, e.name, e.err) }
func (e *faultError) Unwrap() error { return e.err }

func (f *FaultFS) maybe(op Op, name string) error {
	if err := f.inj.MaybeError(op, name); err != nil {
		return &faultError{op: op, name: name, err: err}
	}
	return nil
}

// Create creates name on the inner filesystem unless OpCreate is failed.
func (f *FaultFS) Create(name string) (File, error) {
	if err := f.maybe(OpCreate, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, inner: file}, nil
}

// Open opens name on the inner filesystem unless OpOpen is failed.
func (f *FaultFS) Open(name string) (File, error) {
	if err := f.maybe(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, inner: file}, nil
}

// OpenReadWrite opens name for writing on the inner filesystem unless
// OpOpen is failed.
func (f *FaultFS) OpenReadWrite(name string) (File, error) {
	if err := f.maybe(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, inner: file}, nil
}

// Rename renames on the inner filesystem unless OpRename is failed.
func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.maybe(OpRename, oldname); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// Remove removes on the inner filesystem unless OpRemove is failed.
func (f *FaultFS) Remove(name string) error {
	if err := f.maybe(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// Link links on the inner filesystem unless OpLink is failed.
func (f *FaultFS) Link(oldname, newname string) error {
	if err := f.maybe(OpLink, oldname); err != nil {
		return err
	}
	return f.inner.Link(oldname, newname)
}

// MkdirAll creates dir on the inner filesystem unless OpMkdir is failed.
func (f *FaultFS) MkdirAll(dir string) error {
	if err := f.maybe(OpMkdir, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

// List lists dir on the inner filesystem unless OpList is failed.
func (f *FaultFS) List(dir string) ([]string, error) {
	if err := f.maybe(OpList, dir); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

// Lock locks name on the inner filesystem unless OpLock is failed.
func (f *FaultFS) Lock(name string) (io.Closer, error) {
	if err := f.maybe(OpLock, name); err != nil {
		return nil, err
	}
	return f.inner.Lock(name)
}

// SyncDir syncs dir on the inner filesystem unless OpSyncDir is failed.
func (f *FaultFS) SyncDir(dir string) error {
	if err := f.maybe(OpSyncDir, dir); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Stat stats name on the inner filesystem unless OpStat is failed.
func (f *FaultFS) Stat(name string) (int64, error) {
	if err := f.maybe(OpStat, name); err != nil {
		return 0, err
	}
	return f.inner.Stat(name)
}

// faultFile is a file opened through a FaultFS.
type faultFile struct {
	fs    *FaultFS
	name  string
	inner File
}

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.fs.maybe(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.inner.Read(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.maybe(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

// writeFault decides the fate of a write of p. It returns the bytes to write
// and the error to return afterwards; skip is true when nothing is written.
func (f *faultFile) writeFault(p []byte) (part []byte, err error, skip bool) {
	ierr := f.fs.inj.MaybeError(OpWrite, f.name)
	if ierr == nil {
		return p, nil, false
	}
	if errors.Is(ierr, ErrShortWrite) {
		return p[:len(p)/2], &faultError{op: OpWrite, name: f.name, err: fmt.Errorf("%w (%w)", ierr, syscall.ENOSPC)}, false
	}
	return nil, &faultError{op: OpWrite, name: f.name, err: ierr}, true
}

func (f *faultFile) Write(p []byte) (int, error) {
	part, ferr, skip := f.writeFault(p)
	if skip {
		return 0, ferr
	}
	n, err := f.inner.Write(part)
	if err != nil {
		return n, err
	}
	return n, ferr
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	part, ferr, skip := f.writeFault(p)
	if skip {
		return 0, ferr
	}
	n, err := f.inner.WriteAt(part, off)
	if err != nil {
		return n, err
	}
	return n, ferr
}

// Close closes the inner file even when OpClose is failed, as close(2)
// releases the descriptor whatever it reports, and then returns the injected
// error.
func (f *faultFile) Close() error {
	ferr := f.fs.maybe(OpClose, f.name)
	err := f.inner.Close()
	if ferr != nil {
		return ferr
	}
	return err
}

func (f *faultFile) Sync() error {
	if err := f.fs.maybe(OpSync, f.name); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *faultFile) Size() (int64, error) {
	if err := f.fs.maybe(OpStat, f.name); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.maybe(OpTruncate, f.name); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}
