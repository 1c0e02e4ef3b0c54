package vfs

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// Default returns the operating system's filesystem.
func Default() FS { return osFS{} }

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Link(oldname, newname string) error   { return os.Link(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) Stat(name string) (int64, error) {
	st, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// heldLocks records the lock files this process holds. flock locks belong to
// the open file description, so a second open of the same file inside one
// process would succeed; the table makes a second Lock fail as it would in
// another process. It is process-wide on purpose, like the locks it
// mirrors: two osFS values in one process must see each other's locks.
var heldLocks sync.Map // absolute path -> struct{}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	key := name
	if st, err := f.Stat(); err == nil {
		if sys, ok := st.Sys().(*unix.Stat_t); ok {
			key = fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
		}
	}
	if _, loaded := heldLocks.LoadOrStore(key, struct{}{}); loaded {
		f.Close()
		return nil, fmt.Errorf("lock %s: held by this process", name)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		heldLocks.Delete(key)
		f.Close()
		return nil, fmt.Errorf("lock %s: held by another process: %w", name, err)
	}
	return &osLock{f: f, key: key}, nil
}

type osLock struct {
	f    *os.File
	key  string
	once sync.Once
}

func (l *osLock) Close() error {
	var err error
	l.once.Do(func() {
		unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		err = l.f.Close()
		heldLocks.Delete(l.key)
	})
	return err
}
