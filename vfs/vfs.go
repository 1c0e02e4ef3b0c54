// Package vfs is the small filesystem interface all Strata file I/O goes
// through. Default returns the real operating-system filesystem; tests wrap
// it (or an in-memory filesystem) to inject failures and simulate crashes, so
// every durability claim can be tested.
//
// Package db is Strata's API; a user meets this package through
// db.Options.FS, for one of three things:
//
//   - testing code that uses a database without touching the disk: NewMem
//     is a whole filesystem in memory, and MemFS.CrashClone (with its Pages
//     and Torn variants) copies it as a power cut would leave it, unsynced
//     data lost or torn;
//   - testing how that code copes with failing storage: NewFaultFS wraps
//     any FS and asks an Injector before every operation; FailAt fails the
//     n-th matching operation, so a test can fail each operation of a run
//     in turn (the Op constants name the operations; ErrInjected,
//     ErrNoSpace and ErrShortWrite are the failures);
//   - running Strata over storage of one's own: implement FS and File.
//     Implementing DirectOpener, VectorReader, VectorWriter or Mappable as
//     well is optional; each enables a faster path (O_DIRECT reads,
//     vectored reads and writes, a memory-mapped WAL) that Strata
//     otherwise does without.
//
// The other exported names (AlignedBuffer, IsAligned, OpenDirect and the
// direct-I/O errors) serve Strata's own packages.
package vfs

import (
	"errors"
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
	// Link gives the file oldname a second name, newname, which must not
	// exist (a hard link). The new name is durable once its directory has
	// been synced with SyncDir. Where the filesystem cannot link (another
	// device, a filesystem without hard links) it fails, and the caller
	// copies instead.
	Link(oldname, newname string) error
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

// VectorWriter is implemented by files that write several buffers with
// one system call: the operating system's files on Linux (pwritev(2)). A
// writer that frames a large payload with a small header writes both
// rather than copy them into one buffer first; wrappers such as the
// fault-injecting filesystem do not implement it, so code must keep a
// WriteAt path.
type VectorWriter interface {
	// WritevAt writes bufs in order at offset off, following the
	// io.WriterAt contract for their concatenation: it returns the bytes
	// written, and a non-nil error when that is fewer than asked.
	WritevAt(bufs [][]byte, off int64) (int, error)
}

// ErrMappingUnsafe is returned (wrapped, with the reason) by
// Mappable.CheckMapping when a store into a shared mapping of the file could
// fail after Allocate, or when that cannot be ruled out. The caller should
// write the file with write calls instead.
var ErrMappingUnsafe = errors.New("vfs: writing through a mapping is unsafe on this filesystem")

// Mappable is implemented by files that can be written through a shared
// memory mapping: the operating system's files on Linux. Stores into such a
// mapping land in the kernel's page cache at once, so like a write call they
// survive a crash of the process (not a power cut: Sync makes them durable),
// without a system call per store. Wrappers such as the fault-injecting
// filesystem do not implement it, so code must keep a write-call path.
//
// A store cannot return an error: when the kernel cannot back a page of the
// mapping it kills the process with SIGBUS. A caller must therefore call
// CheckMapping once per file and map the file only if it returns nil. It
// does on filesystems that allocate blocks in place, where the blocks
// Allocate reserves are the ones a store will use: ext4 (and ext2 and ext3,
// which share its magic number and refuse fallocate where they cannot honour
// it), tmpfs, and XFS formatted without reflink. Everywhere else the file
// must be written with write calls, whose failures are returned:
// copy-on-write filesystems (btrfs, bcachefs, ZFS, XFS with reflink) write
// every dirtied block to new space, which a store may find missing despite
// Allocate, and for network, FUSE, overlay and unknown filesystems nothing
// is known either way. What the check cannot rule out on any filesystem is
// a disk error while reading back a page the kernel wrote out and evicted
// before the next store into it; that is a failing disk, not a full one.
type Mappable interface {
	// CheckMapping returns nil if, once Allocate has reserved a range,
	// stores into a mapping of it cannot fail for lack of space, and
	// otherwise an error wrapping ErrMappingUnsafe that says why (the
	// filesystem, or the system call that could not tell). The answer
	// depends only on the file's filesystem, so one call per file is
	// enough.
	CheckMapping() error
	// Allocate reserves disk blocks for [off, off+n), extending the file
	// when needed, so that stores into a mapping of that range cannot fail
	// for lack of space on a filesystem that CheckMapping accepts.
	Allocate(off, n int64) error
	// Map maps [off, off+n) of the file shared and writable. off must be a
	// multiple of the system's page size, and the range must have been
	// allocated.
	Map(off int64, n int) ([]byte, error)
	// Unmap releases a mapping returned by Map. Stores made through it stay
	// in the page cache; Sync on the file makes them durable.
	Unmap(b []byte) error
	WritebackStarter
}

// WritebackStarter is a File that can have the kernel start writing a
// range of its dirty pages ahead of Sync. The files of the OS filesystem
// are WritebackStarters.
type WritebackStarter interface {
	// StartWriteback asks the kernel to start writing the dirty pages of
	// [off, off+n) to disk and returns without waiting for them, so that a
	// later Sync has less left to wait for. It promises nothing about
	// durability: only Sync does.
	StartWriteback(off, n int64) error
}
