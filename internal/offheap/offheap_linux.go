package offheap

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("offheap: allocation of %d bytes", n)
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("offheap: mmap %d bytes: %w", n, err)
	}
	return b[:n:n], nil
}

func free(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("offheap: munmap: %w", err)
	}
	return nil
}
