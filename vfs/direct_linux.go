//go:build linux

package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenDirect opens name read-only with O_DIRECT and checks that the
// filesystem can serve reads aligned to DirectIOAlignment.
//
// The check asks statx for the file's direct-I/O alignment (STATX_DIOALIGN,
// Linux 6.1 and later, and STATX_DIO_READ_ALIGN, which may allow smaller
// read offsets): a filesystem that reports no alignment does not support
// direct I/O for the file, and one that needs more than DirectIOAlignment is
// refused. Where statx does not report it (older kernels, some
// filesystems), OpenDirect reads the first DirectIOAlignment bytes into an
// aligned buffer instead and refuses the file if that read fails with
// EINVAL. Both refusals wrap ErrDirectIOUnsupported.
func (osFS) OpenDirect(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return nil, fmt.Errorf("%w: %w", ErrDirectIOUnsupported, err)
		}
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &directFile{osFile: osFile{f}, rc: rc}
	if err := d.probe(); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// directFile is a file opened with O_DIRECT. Reads go straight to pread(2):
// os.File.ReadAt would retry a short read at the unaligned offset where it
// stopped, which O_DIRECT refuses; here a short read is the end of the file.
type directFile struct {
	osFile
	rc syscall.RawConn
}

// probe checks that reads aligned to DirectIOAlignment will work.
func (d *directFile) probe() error {
	var st unix.Statx_t
	var serr error
	if err := d.rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN|unix.STATX_DIO_READ_ALIGN, &st)
	}); err != nil {
		return err
	}
	if serr == nil && st.Mask&unix.STATX_DIOALIGN != 0 {
		if st.Dio_mem_align == 0 {
			return fmt.Errorf("open %s: the filesystem reports no direct I/O for this file: %w", d.Name(), ErrDirectIOUnsupported)
		}
		offAlign := st.Dio_offset_align
		if st.Mask&unix.STATX_DIO_READ_ALIGN != 0 && st.Dio_read_offset_align != 0 {
			offAlign = st.Dio_read_offset_align
		}
		if st.Dio_mem_align > DirectIOAlignment || offAlign > DirectIOAlignment {
			return fmt.Errorf("open %s: direct I/O needs offsets aligned to %d and buffers to %d bytes, more than %d: %w",
				d.Name(), offAlign, st.Dio_mem_align, DirectIOAlignment, ErrDirectIOUnsupported)
		}
		return nil
	}
	// No report: try one aligned read at the start of the file.
	buf := AlignedBuffer(DirectIOAlignment, DirectIOAlignment)
	if _, err := d.pread(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("open %s: aligned probe read refused: %w: %w", d.Name(), ErrDirectIOUnsupported, err)
		}
		return fmt.Errorf("open %s: probe read: %w", d.Name(), err)
	}
	return nil
}

// pread reads at off with one pread(2) call, retried on EINTR. A short read
// returns io.EOF.
func (d *directFile) pread(p []byte, off int64) (n int, err error) {
	if len(p) == 0 {
		return 0, nil
	}
	if cerr := d.rc.Read(func(fd uintptr) bool {
		for {
			n, err = unix.Pread(int(fd), p, off)
			if err != unix.EINTR {
				return true
			}
		}
	}); cerr != nil {
		return 0, cerr
	}
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReadAt reads len(p) bytes at off; off, len(p) and p's address must be
// multiples of DirectIOAlignment. An EINVAL is reported wrapping
// ErrDirectIOAlignment, with the offending offset, length and address.
func (d *directFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: d.Name(), Err: errors.New("negative offset")}
	}
	n, err := d.pread(p, off)
	if err != nil && err != io.EOF {
		err = d.wrap("readat", p, off, err)
	}
	return n, err
}

// Read reads at the file offset; the same alignment rules apply.
func (d *directFile) Read(p []byte) (int, error) {
	n, err := d.osFile.Read(p)
	if err != nil && err != io.EOF {
		err = d.wrap("read", p, -1, err)
	}
	return n, err
}

// wrap adds the read's shape to err, and ErrDirectIOAlignment to an EINVAL.
func (d *directFile) wrap(op string, p []byte, off int64, err error) error {
	if !errors.Is(err, syscall.EINVAL) {
		return &os.PathError{Op: op, Path: d.Name(), Err: err}
	}
	return fmt.Errorf("%s %s: %d bytes at offset %d into buffer %#x: %w: %w",
		op, d.Name(), len(p), off, uintptr(unsafe.Pointer(unsafe.SliceData(p))), ErrDirectIOAlignment, err)
}
