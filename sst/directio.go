package sst

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/seed-d6fe07da/strata/vfs"
)

// # Reads and direct I/O
//
// Every read a Reader issues goes through readAt (one page, or the header of
// page 0) or readSpan (a run of pages for readahead). Without
// ReaderOptions.DirectIO both are plain ReadAt calls. With it the file may
// have been opened with O_DIRECT, so every ReadAt must have an offset, a
// length and a buffer address that are multiples of vfs.DirectIOAlignment
// (4096 bytes):
//
//   - A page of 4096 bytes or more read into a cache frame already obeys the
//     rule: page pn lies at pn*P, P is a power of two, and the pool's slab
//     puts its frames on 4 KiB boundaries. The address is checked on every
//     read all the same, so a frame that is not aligned is still served.
//   - Anything else (every page of a 1024- or 2048-byte-page file, the
//     header that foreignPageSize probes, a run of pages read for
//     readahead) reads the enclosing aligned span into an aligned scratch
//     buffer and copies out the bytes wanted. A 1 KiB page therefore costs a
//     4 KiB read; the span may run past the end of the file, and the read
//     then comes back short but long enough.
//
// Scratch buffers are reused through a sync.Pool the Reader owns, so a miss
// does not allocate one each time. A read refused with EINVAL under DirectIO
// means the filesystem wants a coarser alignment than 4096 bytes: the error
// then wraps vfs.ErrDirectIOAlignment, and the caller reopens the file for
// buffered reads.

// directAlign is the alignment of every read under DirectIO.
const directAlign = vfs.DirectIOAlignment

// alignDown and alignUp round to multiples of directAlign.
func alignDown(x int64) int64 { return x &^ (directAlign - 1) }
func alignUp(x int64) int64   { return (x + directAlign - 1) &^ (directAlign - 1) }

// scratchPool recycles aligned read buffers of at least min bytes.
type scratchPool struct {
	min  int // bytes; a multiple of directAlign
	pool sync.Pool
}

// get returns a buffer of n bytes starting on a directAlign boundary. Give
// it back with put.
func (s *scratchPool) get(n int) *[]byte {
	if b, ok := s.pool.Get().(*[]byte); ok {
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
		// Too small for this read: let it go, and keep the larger one.
	}
	b := vfs.AlignedBuffer(int(alignUp(int64(max(n, s.min)))), directAlign)[:n]
	return &b
}

// put returns a buffer from get.
func (s *scratchPool) put(b *[]byte) { s.pool.Put(b) }

// readAt reads len(buf) bytes at off into buf, obeying the alignment rule
// under DirectIO. It returns fewer than len(buf) bytes only with an error,
// io.EOF at the end of the file.
func (r *Reader) readAt(buf []byte, off int64) (int, error) {
	if !r.direct || vfs.IsAligned(buf, off, directAlign) {
		return r.f.ReadAt(buf, off)
	}
	data, s, err := r.readSpan(off, len(buf))
	n := copy(buf, data)
	r.scratch.put(s)
	return n, err
}

// readSpan reads n bytes at off into a scratch buffer and returns them as
// data, with one ReadAt (of the enclosing aligned span under DirectIO).
// When fewer than n bytes could be read, data is shorter and err says why,
// io.EOF at the end of the file. The caller gives s back to r.scratch once
// it is done with data.
func (r *Reader) readSpan(off int64, n int) (data []byte, s *[]byte, err error) {
	lo, hi := off, off+int64(n)
	if r.direct {
		lo, hi = alignDown(lo), alignUp(hi)
	}
	s = r.scratch.get(int(hi - lo))
	m, err := r.f.ReadAt(*s, lo)
	skip := int(off - lo)
	got := min(max(m-skip, 0), n)
	if got == n {
		err = nil
	} else if err == nil {
		err = io.EOF
	}
	return (*s)[skip : skip+got], s, err
}

// readResult turns the outcome of reading want bytes of page pn (or of a
// run starting there) into the reader's error: nil when all were read, a
// corruption error for a short file, the I/O error otherwise. Under
// DirectIO an EINVAL is reported as refused alignment.
func (r *Reader) readResult(pn uint32, n, want int, err error) error {
	if n == want {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return r.corrupt(pn, fmt.Errorf("short read: %d of %d bytes", n, want))
	}
	if r.direct && errors.Is(err, syscall.EINVAL) && !errors.Is(err, vfs.ErrDirectIOAlignment) {
		return fmt.Errorf("sst: %s: read page %d: %w: %w", r.name, pn, vfs.ErrDirectIOAlignment, err)
	}
	return fmt.Errorf("sst: %s: read page %d: %w", r.name, pn, err)
}

// readFull reads page pn into buf from the file.
func (r *Reader) readFull(buf []byte, pn uint32) error {
	n, err := r.readAt(buf, int64(pn)*int64(len(buf)))
	return r.readResult(pn, n, len(buf), err)
}
