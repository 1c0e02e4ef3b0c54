package manifest

import (
	"errors"
	"io"

	"github.com/seed-d6fe07da/strata/vfs"
)

var errInjected = errors.New("injected failure")

// memFile is a read-only vfs.File over a byte slice, for replaying
// manifests held in memory.
type memFile struct{ data []byte }

func (f *memFile) Read(p []byte) (int, error) { return 0, errors.New("memFile: Read unsupported") }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) { return 0, errors.New("memFile: read-only") }
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	return 0, errors.New("memFile: read-only")
}
func (f *memFile) Close() error         { return nil }
func (f *memFile) Sync() error          { return nil }
func (f *memFile) Size() (int64, error) { return int64(len(f.data)), nil }
func (f *memFile) Truncate(int64) error { return errors.New("memFile: read-only") }

// faultFS wraps a filesystem; files it creates fail Sync once failSync is
// set, and SyncDir fails when failSyncDir is set.
type faultFS struct {
	vfs.FS
	failSync    bool
	failSyncDir bool
	failRename  bool
	// failSyncDirCall, when positive, fails that SyncDir call (1-based).
	failSyncDirCall int
	syncDirCalls    int
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f faultFile) Sync() error {
	if f.fs.failSync {
		return errInjected
	}
	return f.File.Sync()
}

func (fs *faultFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return faultFile{File: f, fs: fs}, nil
}

func (fs *faultFS) SyncDir(dir string) error {
	fs.syncDirCalls++
	if fs.failSyncDir || fs.syncDirCalls == fs.failSyncDirCall {
		return errInjected
	}
	return fs.FS.SyncDir(dir)
}

func (fs *faultFS) Rename(oldname, newname string) error {
	if fs.failRename {
		return errInjected
	}
	return fs.FS.Rename(oldname, newname)
}
