package offheap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms Strata
// runs on (x86-64, and arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// alloc maps n bytes. From hugePage bytes on, the range starts at a huge
// page boundary and is advised to use huge pages: a fresh 4 KiB page costs
// a fault when first written (about 10 us each on the development VM, so
// 2.6 ms a MiB), a huge page one fault per 2 MiB (about 60 us a MiB).
// Where transparent huge pages are off the advice changes nothing.
func alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("offheap: allocation of %d bytes", n)
	}
	if n < hugePage {
		p, err := mmap(n)
		if err != nil {
			return nil, err
		}
		return unsafe.Slice((*byte)(p), n), nil
	}
	// Map a huge page more than asked, keep n bytes from the first huge
	// page boundary and unmap the rest.
	p, err := mmap(n + hugePage)
	if err != nil {
		return nil, err
	}
	// Trimming splits the mapping, which fails (ENOMEM) when the process
	// is at its limit of mappings: then give back all of it.
	start := uintptr(p)
	head := (hugePage - start%hugePage) % hugePage
	tail := hugePage - head
	if head > 0 {
		if err := unix.MunmapPtr(p, head); err != nil {
			_ = unix.MunmapPtr(p, uintptr(n+hugePage))
			return nil, fmt.Errorf("offheap: munmap: %w", err)
		}
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, head)), n)
	if tail > 0 {
		if err := unix.MunmapPtr(unsafe.Add(p, head+uintptr(n)), tail); err != nil {
			_ = unix.MunmapPtr(unsafe.Add(p, head), uintptr(n)+tail)
			return nil, fmt.Errorf("offheap: munmap: %w", err)
		}
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // only a hint
	return b, nil
}

func mmap(n int) (unsafe.Pointer, error) {
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("offheap: mmap %d bytes: %w", n, err)
	}
	return p, nil
}

func free(b []byte) error {
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b))); err != nil {
		return fmt.Errorf("offheap: munmap: %w", err)
	}
	return nil
}
