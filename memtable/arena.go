package memtable

import "sync"

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
	// pool, when set, supplies chunks of maxChunk bytes, and full holds
	// those this arena took (every chunk, in -tags invariants builds), to
	// give back when the memtable is released.
	pool *ChunkPool
	full [][]byte
}

// ChunkPool recycles the arena chunks of released memtables, so that a new
// memtable writes into memory that is already mapped and faulted in: a
// fresh chunk costs page faults (or zeroing) on first touch, which doubled
// the cost of adding 1000-byte values. It keeps at most a bounded number of
// chunks. It is safe for concurrent use.
type ChunkPool struct {
	mu     sync.Mutex
	chunks [][]byte // guarded by mu
	max    int
}

// NewChunkPool returns a pool keeping up to maxBytes of chunks.
func NewChunkPool(maxBytes int64) *ChunkPool {
	return &ChunkPool{max: int(maxBytes / maxChunk)}
}

func (p *ChunkPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.chunks); n > 0 {
		c := p.chunks[n-1]
		p.chunks[n-1] = nil
		p.chunks = p.chunks[:n-1]
		return c[:0]
	}
	return nil
}

func (p *ChunkPool) put(chunks [][]byte) {
	if poisonReleased {
		// A test build: whatever still reads a chunk sees garbage.
		for _, c := range chunks {
			c = c[:cap(c)]
			for i := range c {
				c[i] = 0xdd
			}
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range chunks {
		if cap(c) == maxChunk && len(p.chunks) < p.max {
			p.chunks = append(p.chunks, c)
		}
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
		if a.next == 0 {
			a.next = minChunk
		}
		waste = cap(a.chunk) - len(a.chunk)
		size := max(a.next, n)
		a.chunk = nil
		if size == maxChunk && a.pool != nil {
			a.chunk = a.pool.get()
		}
		if a.chunk == nil {
			a.chunk = make([]byte, 0, size)
		}
		if a.pool != nil && (size == maxChunk || poisonReleased) {
			a.full = append(a.full, a.chunk) // poisoned builds: every chunk
		}
		a.allocated += int64(size)
		a.next = min(a.next*2, maxChunk)
	}
	off := len(a.chunk)
	a.chunk = a.chunk[:off+n]
	return a.chunk[off : off+n : off+n], waste
}
