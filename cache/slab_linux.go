package cache

import (
	"golang.org/x/sys/unix"

	"github.com/seed-d6fe07da/strata/internal/offheap"
)

// newSlab returns n zeroed bytes aligned to align (at most the OS page size)
// from an anonymous mapping, and the function that unmaps them; if the
// mapping fails, a slab on the heap and a nil function.
func newSlab(n, align int) ([]byte, func()) {
	if n == 0 || align > unix.Getpagesize() {
		return heapSlab(n, align), nil
	}
	b, err := offheap.Alloc(n)
	if err != nil {
		return heapSlab(n, align), nil
	}
	return b, func() { offheap.Release(b) }
}

// physicalMemory returns the machine's memory in bytes, or 0 if it cannot
// be read. A pool larger than it could only end in the out-of-memory
// killer, so Validate refuses one.
func physicalMemory() uint64 {
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0
	}
	return uint64(info.Totalram) * uint64(info.Unit)
}
