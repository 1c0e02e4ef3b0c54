package wal

import (
	"errors"
	"io"
)

// memFile is a vfs.File over a byte slice, with injectable failures.
type memFile struct {
	data      []byte
	off       int64
	syncErr   error // returned by Sync when set
	writeErr  error // returned by Write when set
	shortBy   int   // Write writes this many bytes fewer (with no error)
	syncs     int
	closed    bool
	syncedLen int   // len(data) at the last good Sync
	pad       int64 // reads see this many virtual zero bytes after data
}

var errInjected = errors.New("injected failure")

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	size, _ := f.Size()
	if off >= size {
		return 0, io.EOF
	}
	n := 0
	if off < int64(len(f.data)) {
		n = copy(p, f.data[off:])
	}
	for n < len(p) && off+int64(n) < size {
		p[n] = 0
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	q := p[:len(p)-min(f.shortBy, len(p))]
	n, err := f.WriteAt(q, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Close() error {
	if f.closed {
		return errors.New("already closed")
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	f.syncs++
	if f.syncErr != nil {
		return f.syncErr
	}
	f.syncedLen = len(f.data)
	return nil
}

func (f *memFile) Size() (int64, error) { return int64(len(f.data)) + f.pad, nil }

func (f *memFile) Truncate(size int64) error {
	if size < int64(len(f.data)) {
		f.data = f.data[:size]
	} else {
		f.data = append(f.data, make([]byte, size-int64(len(f.data)))...)
	}
	return nil
}
