//go:build linux

package vfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// directTestDir returns a new directory, removed after the test, on a
// filesystem that enforces O_DIRECT alignment as far as we can tell: not
// tmpfs (or ramfs), which accept unaligned direct I/O on new kernels. It
// tries os.TempDir, then the package directory, and skips the test when
// both are in memory. It also returns the filesystem's magic number.
func directTestDir(t *testing.T) (string, int64) {
	t.Helper()
	for _, dir := range []string{os.TempDir(), "."} {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Logf("statfs %s: %v", dir, err)
			continue
		}
		if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
			t.Logf("%s is in memory (magic %#x): unaligned direct I/O would pass there", dir, st.Type)
			continue
		}
		d, err := os.MkdirTemp(dir, "strata-direct-")
		if err != nil {
			t.Logf("%s: %v", dir, err)
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d, int64(st.Type)
	}
	t.Skip("no directory on a disk filesystem: O_DIRECT alignment cannot be tested")
	return "", 0
}

// TestOpenDirectReads reads a file opened with O_DIRECT on a disk
// filesystem: aligned reads return the file's bytes (a short one at the end
// of the file returns io.EOF), and a misaligned read either works or fails
// with ErrDirectIOAlignment. On ext4 and xfs, which enforce the rule, a read
// at an odd offset must fail.
func TestOpenDirectReads(t *testing.T) {
	const A = DirectIOAlignment
	dir, magic := directTestDir(t)
	name := filepath.Join(dir, "data")
	data := make([]byte, 5*A+1000)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Default().(DirectOpener).OpenDirect(name)
	if errors.Is(err, ErrDirectIOUnsupported) {
		t.Skipf("O_DIRECT refused in %s (filesystem magic %#x): %v", dir, magic, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size, err := f.Size(); err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v", size, err)
	}

	buf := AlignedBuffer(3*A, A)
	for _, off := range []int64{0, A, 2 * A} {
		n, err := f.ReadAt(buf, off)
		if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+3*A]) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", len(buf), off, n, err)
		}
	}
	n, err := f.ReadAt(buf[:2*A], 4*A)
	if n != A+1000 || err != io.EOF || !bytes.Equal(buf[:n], data[4*A:]) {
		t.Fatalf("ReadAt across the end = %d, %v; want %d, io.EOF", n, err, A+1000)
	}
	if n, err := f.ReadAt(buf[:A], 8*A); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v", n, err)
	}
	if n, err := f.Read(buf[:A]); err != nil || n != A || !bytes.Equal(buf[:A], data[:A]) {
		t.Fatalf("Read = %d, %v", n, err)
	}

	refused := 0
	for _, c := range []struct {
		what string
		p    []byte
		off  int64
	}{
		{"odd offset", buf[:A], 1},
		{"short length", buf[:100], 0},
		{"odd address", buf[1 : 1+A], 0},
	} {
		n, err := f.ReadAt(c.p, c.off)
		switch {
		case err == nil:
			if !bytes.Equal(c.p[:n], data[c.off:c.off+int64(n)]) {
				t.Fatalf("%s: accepted but read the wrong bytes", c.what)
			}
			if c.off%A != 0 && (magic == unix.EXT4_SUPER_MAGIC || magic == unix.XFS_SUPER_MAGIC) {
				t.Fatalf("%s: ext4/xfs accepted a misaligned offset: was the file opened with O_DIRECT?", c.what)
			}
			t.Logf("%s: accepted by the filesystem (magic %#x)", c.what, magic)
		case errors.Is(err, ErrDirectIOAlignment) && errors.Is(err, syscall.EINVAL):
			refused++
			t.Logf("%s: %v", c.what, err)
		default:
			t.Fatalf("%s: ReadAt = %d, %v; want success or ErrDirectIOAlignment", c.what, n, err)
		}
	}
	t.Logf("filesystem magic %#x refused %d of 3 misaligned reads", magic, refused)
}
