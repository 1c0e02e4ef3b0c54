// Package cache is the buffer pool: fixed-size page frames keyed by (file,
// page), pinned while a reader decodes from them.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for db and package sst, which reads every page
// through it. Users size and choose the pool with db.Options.
//
// # Layout
//
// The frames are one slab of Frames*PageSize bytes, allocated by New and
// sliced into PageSize frames, so the pool makes no allocation per page and a
// hit makes none at all. The slab starts on a 4 KiB boundary, so with a page
// size that is a multiple of 4 KiB every frame is aligned for direct I/O.
//
// The frames are split among shards by a hash of the PageID. Each shard has
// its own mutex, table, lists, ghost ids and counters, and its own share of
// Kin and Kout; the replacement policy runs per shard. A page never moves
// between shards.
//
// # Replacement
//
// Policy2Q is full 2Q (Johnson and Shasha, VLDB 1994). A page read for the
// first time enters A1in, a FIFO; a hit there does not move it, so a burst of
// correlated references (one scan touching a page several times) does not
// make it hot. When a frame is needed and A1in holds more than Kin frames,
// A1in's oldest frame is reclaimed and its id pushed onto A1out, a FIFO of at
// most Kout ids without data. A miss whose id is in A1out has been
// referenced twice at a distance: its page enters Am, an LRU list, and only
// Am's least recently used frame is reclaimed while A1in holds at most Kin.
// A scan longer than the pool therefore cycles through A1in and leaves Am,
// the hot set, alone. PolicyLRU keeps one LRU list, for comparison.
//
// Pinned frames stay in their list, keeping their place, and are skipped by
// reclaim; if the preferred list has no unpinned frame, the other one gives
// one. When every frame of the page's shard is pinned, Get fails at once with
// ErrAllPinned: the pool never waits for a Release and never grows.
//
// # Concurrency
//
// No lock is held while a page is loaded. A miss enters its frame in the
// table marked loading and pinned, then loads without the lock; a concurrent
// Get of the same page pins the frame and waits for the load on a channel
// made only when someone waits, then gets the same frame or the same error.
// A failed load leaves nothing in the table. EvictFile takes a file's frames
// out of every shard's table at once, loading ones included; readers that
// pin one keep valid bytes and its last Release frees it, while every later
// Get of the page loads it afresh, so a page id can never return bytes read
// before the eviction.
//
// The pool is sharded because with one mutex every hit would serialise on
// it. A lock-free hit path is not worth having: a hit must pin the frame
// and, in Am, move it to the head, which needs the shard's lock anyway, and
// with 4*GOMAXPROCS shards the lock is rarely contended.
package cache

import (
	"errors"
	"fmt"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// ErrAllPinned is returned by Get when every frame is pinned and no frame can
// be freed for a missing page.
var ErrAllPinned = errors.New("strata: buffer pool: every frame is pinned")

// errPoolClosed is returned by Get and Prefetch after Close.
var errPoolClosed = fmt.Errorf("strata: buffer pool: %w", base.ErrClosed)

// errLoadPanicked is the error waiters see when the load they waited for
// panicked; the panic itself goes on up the loader's stack.
var errLoadPanicked = errors.New("strata: buffer pool: page load panicked")

// PageID names one page of one file.
type PageID struct {
	File base.FileNum
	Page base.PageNum
}

// Metrics counts what the pool did.
type Metrics struct {
	// Hits counts Gets that found their page loaded; Misses counts the
	// others, both those that loaded the page and those that waited for a
	// concurrent load of it.
	Hits, Misses uint64
	// Evictions counts pages reclaimed to make room (EvictFile's are not
	// counted).
	Evictions uint64
	// Frames is the pool's size in frames; Pinned the frames pinned now.
	Frames, Pinned int
	// BytesRead counts bytes loaded into frames, by Get and Prefetch.
	BytesRead uint64
	// GhostHits counts references to pages whose id was in A1out: the
	// misses that entered Am directly, and first Gets of pages Prefetch
	// brought back while their id was in A1out.
	GhostHits uint64
	// Prefetched counts pages loaded by Prefetch.
	Prefetched uint64
}

// Pool is a buffer pool of fixed-size frames. It is safe for concurrent use.
type Pool struct {
	// All fields are immutable after New.
	pageSize  int
	nframes   int
	maxRun    int // largest run Prefetch loads at once
	policy    Policy
	shards    []shard
	shardMask uint64 // len(shards)-1 when it is a power of two, else 0
	pinWait   time.Duration
	slab      *slabRelease // nil when the frames are on the Go heap
}

// New returns an empty pool. The zero Options give a pool of 16 frames of
// 4096 bytes under Policy2Q. New panics if opts.Validate fails; callers that
// take options from users call Validate first.
func New(opts Options) *Pool {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	opts = opts.ensureDefaults()
	n := int(opts.Capacity / int64(opts.PageSize))
	if n < minFrames {
		n = minFrames
	}
	p := &Pool{
		pageSize: opts.PageSize,
		nframes:  n,
		maxRun:   max(1, n/4),
		policy:   opts.Policy,
		shards:   make([]shard, shardCount(opts.Shards, n)),
		pinWait:  opts.PinWait,
	}
	if p.pinWait == 0 {
		p.pinWait = time.Second
	}
	if p.pinWait < 0 {
		p.pinWait = 0
	}
	if k := len(p.shards); k&(k-1) == 0 {
		p.shardMask = uint64(k - 1)
	}
	slab, free := newSlab(n*opts.PageSize, slabAlign)
	bufs := make([][]byte, n)
	for i := range bufs {
		off := i * opts.PageSize
		bufs[i] = slab[off : off+opts.PageSize : off+opts.PageSize]
	}
	k := len(p.shards)
	for i := range p.shards {
		// Shard i gets frames lo..hi-1: n/k each, one more for the first n%k.
		lo, hi := i*n/k, (i+1)*n/k
		p.shards[i].init(bufs[lo:hi], opts)
	}
	p.slab = watchSlab(p.shards, free)
	return p
}

// PageSize returns the frame size.
func (p *Pool) PageSize() int { return p.pageSize }

// shardFor returns the shard that holds id. Consecutive pages of a file land
// in unrelated shards, so one scan spreads over all locks.
func (p *Pool) shardFor(id PageID) *shard {
	h := uint64(id.File)*0x9e3779b97f4a7c15 ^ uint64(id.Page)
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 31
	if p.shardMask != 0 || len(p.shards) == 1 {
		return &p.shards[(h>>32)&p.shardMask]
	}
	return &p.shards[((h>>32)*uint64(len(p.shards)))>>32]
}

// Handle is a pinned page. The zero Handle pins nothing: its Release does
// nothing, and it has no Data.
type Handle struct {
	f *frame
}

// Data returns the page bytes. They stay valid until Release.
func (h Handle) Data() []byte { return h.f.buf }

// Release unpins the page. It must be called exactly once per Get.
func (h Handle) Release() {
	if h.f == nil {
		return
	}
	s := h.f.s
	s.mu.Lock()
	s.unpinLocked(h.f)
	s.mu.Unlock()
}

// Cached reports whether page id is in the pool (loaded or being loaded),
// without pinning it or counting a hit or a miss.
func (p *Pool) Cached(id PageID) bool {
	s := p.shardFor(id)
	s.mu.Lock()
	ok := s.frameLocked(id) != nil
	s.mu.Unlock()
	return ok
}

// Get returns page id pinned. On a miss it calls load with a frame buffer of
// PageSize bytes; load fills and validates it. A failed load caches nothing
// and its error is returned to every reader that waited for it. Concurrent
// misses on one page cause one load; no lock is held during load. When every
// frame of the page's shard is pinned, Get waits up to Options.PinWait for a
// Release, then returns an error wrapping ErrAllPinned: readers that pin
// pages while waiting for others can be slowed, never deadlocked.
func (p *Pool) Get(id PageID, load func(buf []byte) error) (Handle, error) {
	s := p.shardFor(id)
	var deadline time.Time
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return Handle{}, fmt.Errorf("page %d of file %d: %w", id.Page, id.File, errPoolClosed)
		}
		if f := s.frameLocked(id); f != nil {
			s.pinLocked(f)
			s.touchLocked(f)
			if !f.loading {
				s.hits++
				s.mu.Unlock()
				return Handle{f}, nil
			}
			s.misses++
			if f.wait == nil {
				f.wait = make(chan struct{})
			}
			wait := f.wait
			s.mu.Unlock()
			<-wait
			// f.err was written before wait was closed, and our pin keeps the
			// frame from being reused.
			if err := f.err; err != nil {
				s.mu.Lock()
				s.unpinLocked(f)
				s.mu.Unlock()
				return Handle{}, err
			}
			return Handle{f}, nil
		}
		f, err := s.claimLocked(id, false)
		if err == nil {
			s.misses++
			s.mu.Unlock()
			if err := loadFrame(f, load); err != nil {
				return Handle{}, err
			}
			return Handle{f}, nil
		}
		if !errors.Is(err, ErrAllPinned) {
			s.mu.Unlock()
			return Handle{}, fmt.Errorf("page %d of file %d: %w", id.Page, id.File, err)
		}
		// Every frame is pinned: wait for a Release, up to the bound.
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(p.pinWait)
		}
		if !now.Before(deadline) {
			s.misses++
			s.mu.Unlock()
			return Handle{}, fmt.Errorf("page %d of file %d: waited %v: %w", id.Page, id.File, p.pinWait, err)
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		freed := s.freed
		s.waiters++
		s.mu.Unlock()
		timer := time.NewTimer(deadline.Sub(now))
		select {
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
		s.mu.Lock()
		s.waiters--
	}
}

// loadFrame runs load on f's buffer, which the caller has claimed, and
// finishes the load. If load panics, waiters get errLoadPanicked and the
// frame is dropped before the panic continues.
func loadFrame(f *frame, load func(buf []byte) error) error {
	done := false
	defer func() {
		if !done {
			f.s.finishLoad(f, errLoadPanicked, false, false)
		}
	}()
	err := load(f.buf)
	done = true
	if err != nil {
		err = fmt.Errorf("page %d of file %d: %w", f.id.Page, f.id.File, err)
	}
	f.s.finishLoad(f, err, true, false)
	return err
}

// Close marks the pool closed: every later Get and Prefetch fails with an
// error wrapping base.ErrClosed. When no frame is pinned, Close gives the
// frames' memory back to the system at once, so a closed database does
// not hold its pool until the garbage collector has run twice; page bytes
// kept after their Release (which Release already forbids) may then be
// unmapped. With pages still pinned, the memory goes when the last of
// their handles and the pool are unreachable, as without Close. Close is
// idempotent.
func (p *Pool) Close() {
	for i := range p.shards {
		p.shards[i].mu.Lock()
	}
	pinned := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.closed = true
		pinned += s.pinned
	}
	for i := range p.shards {
		p.shards[i].mu.Unlock()
	}
	if pinned == 0 && p.slab != nil {
		p.slab.release()
	}
}

// EvictFile drops every page of file from the pool, and forgets the file's
// ids in A1out. Call it after the file is deleted. Unpinned frames are freed
// at once; pinned ones, and ones still loading, leave the table now and are
// freed by their last Release, so their readers keep valid bytes while any
// later Get of the file's pages loads them again.
func (p *Pool) EvictFile(file base.FileNum) {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for j := range s.frames {
			// A frame is in the table exactly when it is in a list.
			if f := &s.frames[j]; f.q != qNone && f.id.File == file {
				s.dropLocked(f)
			}
		}
		for g := s.ghosts.head; g >= 0; {
			next := s.ghosts.nodes[g].next
			if s.ghosts.nodes[g].id.File == file {
				s.forgetGhostLocked(g)
			}
			g = next
		}
		s.mu.Unlock()
	}
}

// EvictPages drops pages 0 .. pages-1 of file, as EvictFile does, looking
// each up in its shard: it costs in proportion to the file's pages, not the
// pool's frames, and holds a shard's lock for one page at a time, so a
// reader of other files hardly waits. For a file with more pages than the
// pool has frames it walks the shards as EvictFile does, the cheaper way.
func (p *Pool) EvictPages(file base.FileNum, pages uint32) {
	if uint64(pages) >= uint64(p.nframes) {
		p.EvictFile(file)
		return
	}
	for pn := uint32(0); pn < pages; pn++ {
		id := PageID{File: file, Page: base.PageNum(pn)}
		s := p.shardFor(id)
		s.mu.Lock()
		switch _, ref := s.lookupLocked(id); {
		case ref&ghostRef != 0:
			s.forgetGhostLocked(ghostIndex(ref))
		case ref != 0:
			s.dropLocked(&s.frames[ref-1])
		}
		s.mu.Unlock()
	}
}

// Metrics returns a snapshot of the pool's counters, summed over the shards.
// Each shard is locked in turn, so the sum is not one atomic snapshot.
func (p *Pool) Metrics() Metrics {
	m := Metrics{Frames: p.nframes}
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		m.Hits += s.hits
		m.Misses += s.misses
		m.Evictions += s.evictions
		m.Pinned += s.pinned
		m.BytesRead += s.bytesRead
		m.GhostHits += s.ghostHits
		m.Prefetched += s.prefetched
		s.mu.Unlock()
	}
	return m
}
