//go:build !linux

package cache

// newSlab returns n zeroed bytes on the Go heap aligned to align; there is
// nothing to free by hand.
func newSlab(n, align int) ([]byte, func()) { return heapSlab(n, align), nil }

// physicalMemory returns 0: the machine's memory is not read on this
// platform, so Validate sets no upper bound.
func physicalMemory() uint64 { return 0 }
