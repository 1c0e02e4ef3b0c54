package vfs

import (
	"errors"
	"fmt"
	"unsafe"
)

// Direct I/O
//
// A file opened with O_DIRECT moves data between the device and the caller's
// buffer without the page cache. The kernel then requires every read's file
// offset and length to be multiples of the filesystem's direct-I/O offset
// alignment (usually the device's logical block size, 512 or 4096 bytes),
// and the buffer's address to be a multiple of its memory alignment; a read
// that breaks the rule fails with EINVAL. Strata does not query the block
// size per read: callers align everything to DirectIOAlignment, 4096 bytes,
// which satisfies every device with logical blocks of at most 4 KiB, and
// OpenDirect refuses a file whose filesystem asks for more.
//
// Not every filesystem enforces the rule. tmpfs accepts unaligned direct I/O
// since Linux 6.6 (it ignores O_DIRECT), and btrfs serves misaligned direct
// reads through the page cache, so a test that checks alignment must run on a
// filesystem that refuses it, such as ext4 or xfs, or record the reads it
// issues and check them itself.

// DirectIOAlignment is the alignment, in bytes, of the offsets, lengths and
// buffer addresses of reads from a file opened by DirectOpener.OpenDirect.
const DirectIOAlignment = 4096

// ErrDirectIOUnsupported is returned (wrapped) by OpenDirect when the
// filesystem cannot open the file for direct I/O, or would need an alignment
// above DirectIOAlignment. The caller should open the file with FS.Open.
var ErrDirectIOUnsupported = errors.New("vfs: direct I/O not supported")

// ErrDirectIOAlignment is returned (wrapped, with the EINVAL that caused it)
// when a direct read was refused because its offset, length or buffer address
// was not aligned as the filesystem requires. A caller that cannot align its
// reads should fall back to buffered I/O.
var ErrDirectIOAlignment = errors.New("vfs: direct I/O alignment refused")

// DirectOpener is implemented by filesystems that can open a file for
// reading with O_DIRECT. The File it returns reads only; every ReadAt (and
// Read) must use an offset, a length and a buffer address that are multiples
// of DirectIOAlignment (AlignedBuffer allocates such buffers), or it may fail
// with an error wrapping ErrDirectIOAlignment. A short read means the end of
// the file. The filesystem returned by Default implements it on Linux;
// MemFS and FaultFS do not, and callers fall back to FS.Open.
type DirectOpener interface {
	// OpenDirect opens an existing file for direct reads. It fails with an
	// error wrapping ErrDirectIOUnsupported when the filesystem refuses
	// O_DIRECT or needs a larger alignment than DirectIOAlignment.
	OpenDirect(name string) (File, error)
}

var _ DirectOpener = osFS{}

// OpenDirect opens name on fsys for direct reads if fsys implements
// DirectOpener, and otherwise fails with an error wrapping
// ErrDirectIOUnsupported.
func OpenDirect(fsys FS, name string) (File, error) {
	d, ok := fsys.(DirectOpener)
	if !ok {
		return nil, fmt.Errorf("open %s: %T: %w", name, fsys, ErrDirectIOUnsupported)
	}
	return d.OpenDirect(name)
}

// AlignedBuffer returns a zeroed slice of size bytes whose first byte lies at
// an address that is a multiple of align, a power of two. It allocates
// size+align bytes and slices into them, so the capacity is exactly size and
// an append can never move the data to an unaligned array. It panics if
// align is not a positive power of two or size is negative.
func AlignedBuffer(size, align int) []byte {
	if align <= 0 || align&(align-1) != 0 {
		panic(fmt.Sprintf("vfs: AlignedBuffer: alignment %d is not a power of two", align))
	}
	if size < 0 {
		panic(fmt.Sprintf("vfs: AlignedBuffer: negative size %d", size))
	}
	b := make([]byte, size+align)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) & uintptr(align-1))
	if off != 0 {
		off = align - off
	}
	return b[off : off+size : off+size]
}

// IsAligned reports whether a read of len(b) bytes at offset off into b
// meets the direct-I/O rule for alignment align (a power of two): the
// offset, the length and the address of b's first byte are all multiples of
// align. An empty b is aligned when off is.
func IsAligned(b []byte, off int64, align int) bool {
	mask := uintptr(align - 1)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if len(b) == 0 {
		addr = 0
	}
	return (uintptr(off)|uintptr(len(b))|addr)&mask == 0
}
