package memtable

// Arena chunk sizes. The first chunk is small so that a memtable holding a
// few entries (tests, a database that is mostly read) costs little; each new
// chunk doubles up to maxChunk, which bounds the waste at the end of a chunk.
const (
	minChunk = 16 << 10
	maxChunk = 1 << 20
	// An allocation larger than bigAlloc gets its own slice rather than
	// wasting most of a chunk.
	bigAlloc = maxChunk / 4
)

// arena hands out byte slices carved from large chunks, so Add costs one
// allocation per chunk rather than one per entry. Memory is released only
// when the whole memtable is dropped. An arena is used by one goroutine at a
// time (the Memtable's single writer); the bytes it hands out are written
// before the entry that points to them is published under the memtable's
// lock, and never written again.
type arena struct {
	// chunk is the current chunk; chunk[len(chunk):cap(chunk)] is free.
	chunk []byte
	// next is the size of the next chunk.
	next int
	// allocated counts the bytes of all chunks and big allocations.
	allocated int64
}

// heapPage is the granularity of the Go heap's large allocations (over
// 32 KiB): a big allocation really holds its size rounded up to it.
const heapPage = 8 << 10

// alloc returns a slice of n bytes with capacity n, so that appending to it
// can never overwrite a neighbour, and the bytes this allocation made the
// arena hold beyond n: the free end of a chunk given up for a new one, or
// the rounding of a big allocation. Memtable size accounting adds both, so
// that large values do not let the memory held pass the memtable size
// unseen.
func (a *arena) alloc(n int) (buf []byte, waste int) {
	if n > bigAlloc {
		a.allocated += int64(n)
		return make([]byte, n), (n+heapPage-1)/heapPage*heapPage - n
	}
	if cap(a.chunk)-len(a.chunk) < n {
		if a.next == 0 {
			a.next = minChunk
		}
		waste = cap(a.chunk) - len(a.chunk)
		size := max(a.next, n)
		a.chunk = make([]byte, 0, size)
		a.allocated += int64(size)
		a.next = min(a.next*2, maxChunk)
	}
	off := len(a.chunk)
	a.chunk = a.chunk[:off+n]
	return a.chunk[off : off+n : off+n], waste
}
