package vfs

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// iovMax is the most buffers one preadv(2) or pwritev(2) takes (Linux's
// IOV_MAX).
const iovMax = 1024

// ReadvAt implements VectorReader with preadv(2), repeating the call after
// a short read (or for more than iovMax buffers) until every buffer is
// full or the file ends.
func (f osFile) ReadvAt(bufs [][]byte, off int64) (int, error) {
	return f.vectored("preadv", unix.Preadv, bufs, off, io.EOF)
}

// WritevAt implements VectorWriter with pwritev(2), repeating the call
// after a short write (or for more than iovMax buffers) until every buffer
// is written.
func (f osFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	return f.vectored("pwritev", unix.Pwritev, bufs, off, io.ErrShortWrite)
}

// vectored moves bufs from or to offset off with call, the system call
// named op, repeating it until every buffer is done; a call that moves
// nothing ends it with none, the end of the file for a read.
func (f osFile) vectored(op string, call func(int, [][]byte, int64) (int, error), bufs [][]byte, off int64, none error) (int, error) {
	total := 0
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return total, nil
		}
		n, err := call(int(f.Fd()), bufs[:min(len(bufs), iovMax)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("%s %s at %d: %w", op, f.Name(), off, err)
		}
		if n == 0 {
			if none == io.EOF {
				return total, io.EOF // unwrapped, as io.ReaderAt returns it
			}
			return total, fmt.Errorf("%s %s at %d: %w", op, f.Name(), off, none)
		}
		total += n
		off += int64(n)
		bufs = advance(bufs, n)
	}
}

// advance returns what is left of bufs after its first n bytes, for a call
// that read or wrote fewer than all of them. bufs itself is left as it
// was: its slices may be the caller's.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if n > 0 {
		bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
	}
	return bufs
}
