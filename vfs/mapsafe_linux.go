package vfs

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Which filesystems may be written through a mapping
//
// Allocate makes stores into a mapping safe only where the blocks fallocate
// reserves are the blocks the stores end up in. A copy-on-write filesystem
// writes every dirtied block to new space, so a store can still find no
// space when its page is first dirtied or written back, and the process
// dies of SIGBUS instead of seeing an error.
//
// The decision is an allowlist of filesystem magic numbers (statfs(2)'s
// f_type), not a list of the unsafe ones, because the two mistakes cost
// unequally: a safe filesystem left off the list only writes its log with
// write calls, a little slower, while an unsafe one let through kills the
// process the first time a store finds the disk full. New filesystems, and
// new copy-on-write ones, keep appearing; they start on the safe path.

// zfsSuperMagic is ZFS's f_type (OpenZFS's ZFS_SUPER_MAGIC); x/sys/unix
// does not define it because ZFS is not part of the kernel.
const zfsSuperMagic = 0x2fc12fc1

// CheckMapping implements Mappable: it reads the magic number of the file's
// filesystem with fstatfs(2) and, on XFS, the filesystem's reflink flag with
// the XFS_IOC_FSGEOMETRY_V4 ioctl, and applies mappingSafe. It costs one or
// two system calls, so callers check once per file, not per mapping.
func (f osFile) CheckMapping() error {
	fd := int(f.Fd())
	var st unix.Statfs_t
	for {
		err := unix.Fstatfs(fd, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("map %s: fstatfs: %w: %w", f.Name(), ErrMappingUnsafe, err)
		}
		break
	}
	// Statfs_t.Type is signed on some architectures; magic numbers are 32
	// bits, and the conversion keeps them.
	if err := mappingSafe(uint32(st.Type), func() (bool, error) { return xfsReflink(fd) }); err != nil {
		return fmt.Errorf("map %s: %w", f.Name(), err)
	}
	return nil
}

// mappingSafe decides whether a file on the filesystem with magic number
// magic may be written through a mapping: nil if so, and otherwise an error
// wrapping ErrMappingUnsafe that says why. xfsReflink reports whether an XFS
// filesystem lets files share blocks; it is called only for XFS.
//
// ext2, ext3 and ext4 share one magic number; ext2, and ext3 files without
// extents, refuse fallocate, so Allocate fails there and the caller falls
// back to write calls anyway. tmpfs allocates the pages themselves.
//
// XFS with reflink writes in place only until a block is shared, and
// anyone can share the log's blocks while it is written: coreutils' cp
// clones by default (since 9.0), as do backup tools, and the next store
// into a shared block needs new space. An XFS whose reflink flag cannot be
// read is treated the same way.
func mappingSafe(magic uint32, xfsReflink func() (bool, error)) error {
	switch magic {
	case unix.EXT4_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return nil
	case unix.XFS_SUPER_MAGIC:
		reflink, err := xfsReflink()
		if err != nil {
			return fmt.Errorf("%s: cannot tell whether reflink is on: %w: %w", fsName(magic), ErrMappingUnsafe, err)
		}
		if reflink {
			return fmt.Errorf("%s with reflink: a store into a block shared with another file needs new space: %w", fsName(magic), ErrMappingUnsafe)
		}
		return nil
	case unix.BTRFS_SUPER_MAGIC, unix.BCACHEFS_SUPER_MAGIC, zfsSuperMagic:
		return fmt.Errorf("%s is copy-on-write: a store may need new space: %w", fsName(magic), ErrMappingUnsafe)
	}
	return fmt.Errorf("%s is not known to write in place: %w", fsName(magic), ErrMappingUnsafe)
}

// fsName names a filesystem for an error message.
func fsName(magic uint32) string {
	var name string
	switch magic {
	case unix.EXT4_SUPER_MAGIC:
		name = "ext4"
	case unix.TMPFS_MAGIC:
		name = "tmpfs"
	case unix.XFS_SUPER_MAGIC:
		name = "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		name = "btrfs"
	case unix.BCACHEFS_SUPER_MAGIC:
		name = "bcachefs"
	case zfsSuperMagic:
		name = "zfs"
	case unix.F2FS_SUPER_MAGIC:
		name = "f2fs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		name = "overlayfs"
	case unix.NFS_SUPER_MAGIC:
		name = "nfs"
	case unix.FUSE_SUPER_MAGIC:
		name = "fuse"
	default:
		return fmt.Sprintf("the filesystem with magic %#x", magic)
	}
	return fmt.Sprintf("%s (magic %#x)", name, magic)
}

// The XFS_IOC_FSGEOMETRY_V4 ioctl fills struct xfs_fsop_geom_v4 of
// <xfs/xfs_fs.h> with the filesystem's geometry and feature flags; xfs_info
// prints reflink=0 or 1 from the same flag. It is used rather than the
// newer XFS_IOC_FSGEOMETRY (Linux 5.1 and later) because every kernel that
// has reflink answers it, and rather than XFS_IOC_FSGEOMETRY_V1 because its
// structure has one layout on every architecture (V1's size differs on
// 32-bit x86).
const (
	xfsGeomSize        = 112     // sizeof(struct xfs_fsop_geom_v4)
	xfsGeomFlagsOff    = 92      // offset of flags: 8 uint32s, 4 uint64s, a 16-byte uuid, sunit, swidth, version
	xfsGeomFlagReflink = 1 << 20 // XFS_FSOP_GEOM_FLAGS_REFLINK: files can share blocks

	// xfsGeometryRequest is _IOR('X', 124, struct xfs_fsop_geom_v4). The
	// bits that mark an ioctl request as a read differ by architecture
	// (bit 31 on most, bit 30 on mips, powerpc and sparc, whose size field
	// is narrower), so they are taken from FS_IOC_GETFLAGS, another _IOR
	// request, which x/sys/unix defines for each architecture. A wrong
	// request would fail with ENOTTY, which counts as reflink unknown.
	xfsGeometryRequest = unix.FS_IOC_GETFLAGS&(7<<29) | xfsGeomSize<<16 | 'X'<<8 | 124
)

// xfsReflink reports whether the XFS filesystem holding the open file fd
// lets files share blocks.
func xfsReflink(fd int) (bool, error) {
	var geom [xfsGeomSize]byte
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), xfsGeometryRequest, uintptr(unsafe.Pointer(&geom[0])))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return false, fmt.Errorf("XFS_IOC_FSGEOMETRY_V4: %w", errno)
		}
		break
	}
	return binary.NativeEndian.Uint32(geom[xfsGeomFlagsOff:])&xfsGeomFlagReflink != 0, nil
}
