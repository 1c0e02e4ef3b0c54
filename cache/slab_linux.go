package cache

import "golang.org/x/sys/unix"

// newSlab returns n zeroed bytes aligned to align (at most the OS page size)
// from an anonymous mapping, and the function that unmaps them; if the
// mapping fails, a slab on the heap and a nil function.
func newSlab(n, align int) ([]byte, func()) {
	if n == 0 || align > unix.Getpagesize() {
		return heapSlab(n, align), nil
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return heapSlab(n, align), nil
	}
	return b[:n:n], func() { unix.Munmap(b) }
}
