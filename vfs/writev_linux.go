package vfs

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// WritevAt implements VectorWriter with pwritev(2), repeating the call
// after a short write (or for more than iovMax buffers) until every buffer
// is written.
func (f osFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return total, nil
		}
		n, err := unix.Pwritev(int(f.Fd()), bufs[:min(len(bufs), iovMax)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, fmt.Errorf("pwritev %s at %d: %w", f.Name(), off, err)
		}
		if n == 0 {
			return total, fmt.Errorf("pwritev %s at %d: %w", f.Name(), off, io.ErrShortWrite)
		}
		total += n
		off += int64(n)
		bufs = advance(bufs, n)
	}
}
