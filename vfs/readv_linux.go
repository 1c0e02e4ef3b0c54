package vfs

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// iovMax is the most buffers one preadv(2) takes (Linux's IOV_MAX).
const iovMax = 1024

// ReadvAt implements VectorReader with preadv(2), repeating the call after
// a short read (or for more than iovMax buffers) until every buffer is
// full or the file ends.
func (f osFile) ReadvAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return total, nil
		}
		n, err := unix.Preadv(int(f.Fd()), bufs[:min(len(bufs), iovMax)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("preadv %s at %d: %w", f.Name(), off, err)
		}
		if n == 0 {
			return total, io.EOF
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
