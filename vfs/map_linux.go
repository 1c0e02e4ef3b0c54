package vfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Allocate implements Mappable with fallocate(2), which fails with
// EOPNOTSUPP on filesystems that cannot reserve blocks; callers then keep to
// write calls. Where it succeeds it still protects stores into a mapping
// only on the filesystems CheckMapping accepts.
func (f osFile) Allocate(off, n int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, off, n)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fallocate %s [%d, %d): %w", f.Name(), off, off+n, err)
		}
		return nil
	}
}

// Map implements Mappable with mmap(2), MAP_SHARED and PROT_READ|PROT_WRITE.
func (f osFile) Map(off int64, n int) ([]byte, error) {
	b, err := unix.Mmap(int(f.Fd()), off, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s [%d, %d): %w", f.Name(), off, off+int64(n), err)
	}
	return b, nil
}

// Unmap implements Mappable with munmap(2).
func (f osFile) Unmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("munmap %s: %w", f.Name(), err)
	}
	return nil
}

// StartWriteback implements Mappable with sync_file_range(2) and
// SYNC_FILE_RANGE_WRITE: it queues the writes of the range's dirty pages
// without waiting for them (RocksDB's wal_bytes_per_sync does the same).
func (f osFile) StartWriteback(off, n int64) error {
	for {
		err := unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync_file_range %s [%d, %d): %w", f.Name(), off, off+n, err)
		}
		return nil
	}
}
