package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMappingSafeByMagic: only ext4 (with ext2 and ext3), tmpfs and XFS
// without reflink are mapped; every other filesystem, known or not, is
// refused with ErrMappingUnsafe, and XFS's reflink flag is read for XFS
// alone.
func TestMappingSafeByMagic(t *testing.T) {
	errProbe := errors.New("inappropriate ioctl for device")
	for _, c := range []struct {
		name    string
		magic   uint32
		reflink bool
		probe   error // returned by the XFS reflink probe
		safe    bool
	}{
		{"ext4", unix.EXT4_SUPER_MAGIC, false, nil, true},
		{"ext4 ignores reflink", unix.EXT4_SUPER_MAGIC, true, nil, true},
		{"tmpfs", unix.TMPFS_MAGIC, false, nil, true},
		{"xfs without reflink", unix.XFS_SUPER_MAGIC, false, nil, true},
		{"xfs with reflink", unix.XFS_SUPER_MAGIC, true, nil, false},
		{"xfs, reflink unknown", unix.XFS_SUPER_MAGIC, false, errProbe, false},
		{"btrfs", unix.BTRFS_SUPER_MAGIC, false, nil, false},
		{"bcachefs", unix.BCACHEFS_SUPER_MAGIC, false, nil, false},
		{"zfs", 0x2fc12fc1, false, nil, false},
		{"f2fs", unix.F2FS_SUPER_MAGIC, false, nil, false},
		{"overlayfs", unix.OVERLAYFS_SUPER_MAGIC, false, nil, false},
		{"nfs", unix.NFS_SUPER_MAGIC, false, nil, false},
		{"fuse", unix.FUSE_SUPER_MAGIC, false, nil, false},
		{"ramfs", unix.RAMFS_MAGIC, false, nil, false},
		{"zero", 0, false, nil, false},
		{"unknown", 0xdeadbeef, false, nil, false},
	} {
		probes := 0
		err := mappingSafe(c.magic, func() (bool, error) {
			probes++
			return c.reflink, c.probe
		})
		if c.safe && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.safe && !errors.Is(err, ErrMappingUnsafe) {
			t.Errorf("%s: got %v, want an error wrapping ErrMappingUnsafe", c.name, err)
		}
		if c.probe != nil && !errors.Is(err, c.probe) {
			t.Errorf("%s: %v does not wrap the probe's error", c.name, err)
		}
		if want := c.magic == unix.XFS_SUPER_MAGIC; (probes == 1) != want || probes > 1 {
			t.Errorf("%s: reflink probed %d times", c.name, probes)
		}
		if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestXFSGeometryRequest compares the request number built from
// FS_IOC_GETFLAGS's direction bits with _IOR('X', 124, 112 bytes) worked
// out by hand for this architecture's ioctl encoding.
func TestXFSGeometryRequest(t *testing.T) {
	want := uint32(0x8070587c) // read is bit 31
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "sparc64":
		want = 0x4070587c // read is bit 30
	}
	if xfsGeometryRequest != want {
		t.Fatalf("XFS_IOC_FSGEOMETRY_V4 = %#x on %s, want %#x", uint32(xfsGeometryRequest), runtime.GOARCH, want)
	}
}

// TestCheckMappingOnDisk checks real files in the temporary directory and
// in /dev/shm (tmpfs on most systems) against what is known of their
// filesystems independently of CheckMapping: statfs(2) on the directory's
// path for the magic number, and whether FICLONE can share one file's
// blocks with another, which works exactly where a store may need new
// space (btrfs, bcachefs, recent ZFS, XFS with reflink) and must never be
// allowed a mapping.
func TestCheckMappingOnDisk(t *testing.T) {
	dirs := []string{t.TempDir()}
	if d, err := os.MkdirTemp("/dev/shm", "strata-map-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		magic := uint32(st.Type)
		clones := canClone(t, dir)
		f, err := Default().Create(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		err = f.(Mappable).CheckMapping()
		f.Close()
		t.Logf("%s: %s, FICLONE works: %v, CheckMapping: %v", dir, fsName(magic), clones, err)
		if err != nil && !errors.Is(err, ErrMappingUnsafe) {
			t.Fatalf("%s: %v does not wrap ErrMappingUnsafe", dir, err)
		}
		if clones && err == nil {
			t.Fatalf("%s: files can share blocks, yet the mapping was allowed", dir)
		}
		var safe bool
		switch magic {
		case unix.EXT4_SUPER_MAGIC, unix.TMPFS_MAGIC:
			safe = true
		case unix.XFS_SUPER_MAGIC:
			safe = !clones
		}
		if safe != (err == nil) {
			t.Fatalf("%s on %s: CheckMapping = %v, want safe %v", dir, fsName(magic), err, safe)
		}
	}
}

// canClone reports whether the filesystem holding dir can share a file's
// blocks with another file (the FICLONE ioctl, as cp --reflink uses).
func canClone(t *testing.T, dir string) bool {
	t.Helper()
	src, err := os.Create(filepath.Join(dir, "clone-src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(dir, "clone-dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) == nil
}

// TestXFSReflinkProbeElsewhere: outside XFS the geometry ioctl fails, so
// the probe can only ever report an error there, never a flag.
func TestXFSReflinkProbeElsewhere(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if uint32(st.Type) == unix.XFS_SUPER_MAGIC {
		t.Skip("TempDir is on XFS")
	}
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if reflink, err := xfsReflink(int(f.Fd())); err == nil {
		t.Fatalf("XFS geometry read on %s: reflink %v", fsName(uint32(st.Type)), reflink)
	} else {
		t.Logf("%s: %v", fsName(uint32(st.Type)), err)
	}
}
