//go:build linux

package sst

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// diskDir returns a new directory, removed after the test, on a filesystem
// that is not in memory: tmpfs accepts unaligned direct I/O on new kernels,
// so it would prove nothing. It tries os.TempDir, then the package
// directory, and skips the test when neither will do. It also returns the
// filesystem's magic number.
func diskDir(t testing.TB) (string, int64) {
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
		d, err := os.MkdirTemp(dir, "strata-sst-direct-")
		if err != nil {
			t.Logf("%s: %v", dir, err)
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d, int64(st.Type)
	}
	t.Skip("no directory on a disk filesystem: O_DIRECT cannot be tested")
	return "", 0
}

// openDirectOrSkip opens path with O_DIRECT, skipping the test when the
// filesystem refuses.
func openDirectOrSkip(t testing.TB, path string, magic int64) vfs.File {
	t.Helper()
	f, err := vfs.OpenDirect(vfs.Default(), path)
	if errors.Is(err, vfs.ErrDirectIOUnsupported) {
		t.Skipf("O_DIRECT refused for %s (filesystem magic %#x): %v", path, magic, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDirectIORealFile reads tables of 1, 4 and 16 KiB pages through files
// opened with O_DIRECT on a disk filesystem, and checks that scans, seeks
// and Gets return what buffered reads return, with every read aligned. For
// pages under 4 KiB it also reads the file without ReaderOptions.DirectIO
// and checks the outcome against the alignment statx reports: refused
// alignment when the filesystem needs more than a page, success otherwise.
func TestDirectIORealFile(t *testing.T) {
	dir, magic := diskDir(t)
	for _, P := range []int{1024, 4096, 16384} {
		kvs, rds := directFixture(P, 1500)
		path := filepath.Join(dir, base.MakeFilename(base.FileTypeTable, base.FileNum(P)))
		writeTable(t, path, WriterOptions{PageSize: P, BloomBitsPerKey: 10}, kvs, rds)

		pool := cache.New(cache.Options{Capacity: 64 * int64(P), PageSize: P})
		rec := &recordingFile{File: openDirectOrSkip(t, path, magic)}
		r, err := Open(rec, ReaderOptions{Cache: pool, FileNum: 1, DirectIO: true})
		if err != nil {
			t.Fatalf("P=%d: %v", P, err)
		}
		if err := checkAll(r, kvs); err != nil {
			t.Fatalf("P=%d direct: %v", P, err)
		}
		buffered, _ := openTable(t, path, P, 2)
		if got, want := r.RangeDels(), buffered.RangeDels(); len(got) != len(want) {
			t.Fatalf("P=%d: %d range deletions direct, %d buffered", P, len(got), len(want))
		}
		for _, forward := range []bool{true, false} {
			d, b := scanAll(t, r, forward), scanAll(t, buffered, forward)
			if len(d) != len(b) {
				t.Fatalf("P=%d: direct scan saw %d entries, buffered %d", P, len(d), len(b))
			}
			for i := range d {
				if base.CompareInternal(d[i].key, b[i].key) != 0 || !bytes.Equal(d[i].value, b[i].value) {
					t.Fatalf("P=%d: entry %d: direct %s, buffered %s", P, i, d[i].key, b[i].key)
				}
			}
		}
		buffered.Close()
		r.Close()
		if bad := unaligned(rec.take()); len(bad) > 0 {
			t.Fatalf("P=%d: unaligned read %v", P, bad[0])
		}

		if P >= directAlign {
			continue
		}
		// The same file, O_DIRECT, read without the alignment rule: pages
		// at multiples of P into frames aligned to P. That works exactly
		// when the filesystem's direct-I/O alignment is at most P.
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_DIOALIGN, &st); err != nil || st.Mask&unix.STATX_DIOALIGN == 0 {
			t.Logf("P=%d: statx reports no direct-I/O alignment (%v)", P, err)
			continue
		}
		need := int(max(st.Dio_offset_align, st.Dio_mem_align))
		f := openDirectOrSkip(t, path, magic)
		r, err = Open(f, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 64 * int64(P), PageSize: P}), FileNum: 3, Readahead: -1})
		if err == nil {
			err = checkAll(r, kvs)
			r.Close()
		}
		switch {
		case need > P && !errors.Is(err, vfs.ErrDirectIOAlignment):
			t.Fatalf("P=%d: filesystem needs %d-byte alignment, unaligned O_DIRECT reads gave %v", P, need, err)
		case need <= P && err != nil:
			t.Fatalf("P=%d: filesystem needs %d-byte alignment, %d-byte O_DIRECT reads failed: %v", P, need, P, err)
		}
		t.Logf("P=%d: filesystem magic %#x needs %d-byte direct-I/O alignment; %d-byte reads without DirectIO: %v", P, magic, need, P, err)
	}
}
