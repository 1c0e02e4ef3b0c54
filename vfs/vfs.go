// Package vfs is the small filesystem interface all Strata file I/O goes
// through. Default returns the real operating-system filesystem; tests wrap
// it (or an in-memory filesystem) to inject failures and simulate crashes, so
// every durability claim can be tested.
package vfs

import (
	"io"
)

// File is an open file. Reads and writes at the current offset follow the
// io.Reader and io.Writer contracts; ReadAt does not move the offset.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable (fsync).
	Sync() error
	// Size returns the current length of the file in bytes.
	Size() (int64, error)
	// Truncate changes the length of the file.
	Truncate(size int64) error
}

// FS is a filesystem. Names are paths as the os package takes them.
type FS interface {
	// Create creates name, truncating it if it exists, open for reading and
	// writing.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing
	// without truncating it (to cut a damaged tail off a log, say).
	OpenReadWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove deletes a file.
	Remove(name string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Lock takes an exclusive advisory lock on name, creating it if needed.
	// It fails at once if another process (or another Lock call) holds it.
	// Closing the returned Closer releases the lock.
	Lock(name string) (io.Closer, error)
	// SyncDir makes the directory entries of dir durable (fsync on the
	// directory), so that created, renamed and removed names survive a crash.
	SyncDir(dir string) error
	// Stat returns the size of name, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when it is absent.
	Stat(name string) (size int64, err error)
}

// VectorReader is implemented by files that read into several buffers with
// one system call: the operating system's files on Linux (preadv(2)). A
// reader of consecutive pages uses it to fill page frames in place rather
// than read into a scratch buffer and copy; wrappers such as the
// fault-injecting filesystem do not implement it, so code must keep a
// ReadAt path.
type VectorReader interface {
	// ReadvAt reads len(bufs[0]) + len(bufs[1]) + ... bytes from offset
	// off into bufs in order, following the io.ReaderAt contract for
	// their concatenation: it returns the bytes read, and a non-nil error
	// (io.EOF at the end of the file) when that is fewer than asked.
	ReadvAt(bufs [][]byte, off int64) (int, error)
}

// Mappable is implemented by files that can be written through a shared
// memory mapping: the operating system's files on Linux. Stores into such a
// mapping land in the kernel's page cache at once, so like a write call they
// survive a crash of the process (not a power cut: Sync makes them durable),
// without a system call per store. Wrappers such as the fault-injecting
// filesystem do not implement it, so code must keep a write-call path.
type Mappable interface {
	// Allocate reserves disk blocks for [off, off+n), extending the file
	// when needed, so that stores into a mapping of that range cannot fail
	// for lack of space (a store to an unbacked page of a mapping kills the
	// process with SIGBUS instead of returning an error).
	Allocate(off, n int64) error
	// Map maps [off, off+n) of the file shared and writable. off must be a
	// multiple of the system's page size, and the range must have been
	// allocated.
	Map(off int64, n int) ([]byte, error)
	// Unmap releases a mapping returned by Map. Stores made through it stay
	// in the page cache; Sync on the file makes them durable.
	Unmap(b []byte) error
	// StartWriteback asks the kernel to start writing the dirty pages of
	// [off, off+n) to disk and returns without waiting for them, so that a
	// later Sync has less left to wait for. It promises nothing about
	// durability: only Sync does.
	StartWriteback(off, n int64) error
}
