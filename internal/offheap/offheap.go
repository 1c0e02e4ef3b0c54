// Package offheap allocates large byte slices outside the Go heap, for
// buffers whose owner knows when the last reader is done with them: the
// buffer pool's frames and the memtables' arena chunks.
//
// Memory on the heap counts toward the live heap the garbage collector
// paces against: with GOGC=100, every live byte lets the process pile up
// another byte of garbage before a collection, so a 64 MiB buffer pool or
// three 8 MiB memtables would raise the peak RSS by twice their size.
// Pebble allocates its block cache and memtable arenas by hand for the same
// reason. The price is the one of manual memory: reading a slice after
// Free faults, where a heap slice would have been kept alive.
package offheap

import "errors"

// ErrUnsupported is returned by Alloc on platforms without anonymous
// mappings here; callers fall back to the heap.
var ErrUnsupported = errors.New("offheap: not supported on this platform")

// Alloc returns n zeroed bytes (len and cap n) aligned to the OS page
// size, outside the Go heap. They must be given back with Free, and must
// hold no Go pointers (the collector does not scan them).
func Alloc(n int) ([]byte, error) { return alloc(n) }

// Free gives back memory from Alloc. b must be the whole slice Alloc
// returned (or any slice starting there with the same capacity); nothing
// may read or write it afterwards.
func Free(b []byte) error { return free(b[:cap(b)]) }

// Release is Free for the callers that have nowhere to report an error: a
// cleanup (runtime.AddCleanup) or a pool letting memory go. Unmapping a
// range Alloc returned fails only if the caller broke Free's contract.
func Release(b []byte) { _ = Free(b) }
