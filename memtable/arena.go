package memtable

import (
	"runtime"
	"sync"

	"github.com/seed-d6fe07da/strata/internal/offheap"
)

// Arena chunk sizes. Without a pool, the first chunk is small so that a
// memtable holding a few entries (tests) costs little, and each new chunk
// doubles up to maxChunk, which bounds the waste at the end of a chunk; a
// pooled arena (the database's) takes all its chunks from its pool (see
// NewChunkPool for their size).
const (
	minChunk = 16 << 10
	maxChunk = 1 << 20
	// hugeChunk is the pool's chunk size for memtables of 2*hugeChunk and
	// more: a huge page (see internal/offheap).
	hugeChunk = 2 << 20
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
	// pool, when set, supplies every chunk, and full
	// holds those this arena took, to give back when the memtable is
	// released.
	pool *ChunkPool
	full []*chunk
}

// chunk is an arena chunk a ChunkPool handed out. Where the platform
// allows, its bytes are outside the Go heap (internal/offheap): the chunks
// of the memtables being written and flushed are most of a database's
// live heap while it takes writes, and on the heap the collector's pacing
// (GOGC) would let the process hold as much garbage again before a
// collection. Such a chunk is unmapped when the pool lets it go, or, as a
// safety net, once the chunk is unreachable (a memtable dropped without
// its last Unref, a pool never closed).
type chunk struct {
	b       []byte // len 0 when handed out; cap the pool's chunk size
	mapped  bool
	cleanup runtime.Cleanup
}

// newChunk returns a fresh chunk of size bytes: off the heap if it can
// (not in -tags invariants builds, whose released chunks must stay
// readable to show their poison), else on it.
func newChunk(size int) *chunk {
	if !poisonReleased {
		if b, err := offheap.Alloc(size); err == nil {
			c := &chunk{b: b[:0], mapped: true}
			c.cleanup = runtime.AddCleanup(c, offheap.Release, b)
			return c
		}
	}
	return &chunk{b: make([]byte, 0, size)}
}

// free unmaps a mapped chunk at once; nothing may read its bytes after.
// A heap chunk is left to the collector.
func (c *chunk) free() {
	if c.mapped {
		c.cleanup.Stop()
		c.mapped = false
		offheap.Release(c.b)
	}
	c.b = nil
}

// ChunkPool hands out the large arena chunks of a database's memtables and
// recycles those of released memtables, so that a new memtable writes into
// memory that is already faulted in: a fresh chunk costs a page fault per
// page (or per huge page) on first write. It keeps at most a bounded
// number of chunks and unmaps the rest.
// It is safe for concurrent use.
type ChunkPool struct {
	mu     sync.Mutex
	chunks []*chunk // guarded by mu
	max    int      // chunks kept
	size   int      // bytes of a chunk
	// memtableSize is the memtable size the pool was made for, which
	// sizes the memtables' key filters.
	memtableSize int64
	closed       bool // guarded by mu
}

// NewChunkPool returns the pool of a database whose memtables hold
// memtableSize bytes. For memtables of 2*hugeChunk and more its chunks
// are hugeChunk bytes advised to use huge pages, which the kernel backs
// with one fault each instead of 512; for smaller memtables, chunks of
// maxChunk in base pages, which hold memory only where written, so a small
// memtable costs little.
// It keeps a memtable's worth of released chunks (at least one), for the
// memtable that follows a flushed one.
func NewChunkPool(memtableSize int64) *ChunkPool {
	size := maxChunk
	if memtableSize >= 2*hugeChunk {
		size = hugeChunk
	}
	return &ChunkPool{size: size, max: max(1, int(memtableSize/int64(size))), memtableSize: memtableSize}
}

// get returns a recycled chunk, else a new one.
func (p *ChunkPool) get() *chunk {
	p.mu.Lock()
	if n := len(p.chunks); n > 0 {
		c := p.chunks[n-1]
		p.chunks[n-1] = nil
		p.chunks = p.chunks[:n-1]
		p.mu.Unlock()
		c.b = c.b[:0]
		return c
	}
	p.mu.Unlock()
	return newChunk(p.size)
}

// put takes back the chunks of a released memtable, keeping what the pool
// has room for and freeing the rest.
func (p *ChunkPool) put(chunks []*chunk) {
	if poisonReleased {
		// A test build: whatever still reads a chunk sees garbage.
		for _, c := range chunks {
			b := c.b[:cap(c.b)]
			for i := range b {
				b[i] = 0xdd
			}
		}
		return
	}
	p.mu.Lock()
	keep := 0
	if !p.closed {
		keep = min(len(chunks), p.max-len(p.chunks))
		for _, c := range chunks[:keep] {
			if cap(c.b) == p.size {
				p.chunks = append(p.chunks, c)
			}
		}
	}
	p.mu.Unlock()
	for _, c := range chunks[keep:] {
		c.free()
	}
}

// Close frees the pooled chunks; chunks given back later are freed at once.
// The memtables still holding chunks keep them until their last Unref.
func (p *ChunkPool) Close() {
	p.mu.Lock()
	chunks := p.chunks
	p.chunks, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range chunks {
		c.free()
	}
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
		waste = cap(a.chunk) - len(a.chunk)
		if a.pool != nil {
			// Full-size chunks from the start: a fresh one is off the
			// heap and holds memory only as it is written, a recycled
			// one is held by the pool anyway.
			c := a.pool.get()
			a.chunk = c.b
			a.full = append(a.full, c)
			a.allocated += int64(cap(c.b))
		} else {
			if a.next == 0 {
				a.next = minChunk
			}
			size := max(a.next, n)
			a.chunk = make([]byte, 0, size)
			a.allocated += int64(size)
			a.next = min(a.next*2, maxChunk)
		}
	}
	off := len(a.chunk)
	a.chunk = a.chunk[:off+n]
	return a.chunk[off : off+n : off+n], waste
}
