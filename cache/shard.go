package cache

import (
	"sync"
)

// queue says which list a frame is in.
type queue uint8

const (
	qNone queue = iota // free, dropped, or failed
	qA1in              // 2Q: seen once, FIFO
	qAm                // 2Q: seen again, LRU; PolicyLRU: the only list
)

// frame is one PageSize slice of the slab and the page it holds.
type frame struct {
	s     *shard // immutable
	buf   []byte // immutable: this frame's part of the slab
	index uint32 // immutable: the frame's place in s.frames

	// The fields below are guarded by s.mu.

	id   PageID
	pins int32
	q    queue
	// prev and next link the frame into the list q.
	prev, next *frame
	// loading is set while a reader fills buf without the lock; the frame is
	// in the table and pinned by the loader, so it cannot be evicted.
	loading bool
	// wait is made by the first reader that finds the frame loading and
	// closed when the load ends. Uncontended misses never make it.
	wait chan struct{}
	// err is the failed load's error. It is written before wait is closed
	// and read by waiters, who still pin the frame, after.
	err error
	// dropped is set when the frame left the table while pinned (EvictFile,
	// or a failed load): the last Release returns it to the free list.
	dropped bool
	// ghostRef marks a prefetched frame whose id was in A1out: the first Get
	// is the re-reference 2Q promotes to Am.
	ghostRef bool
}

// shard is an independently locked part of the pool: its own table, lists,
// ghost ids, frames and counters.
type shard struct {
	mu sync.Mutex

	// The fields below are guarded by mu.

	table  pageTable // resident and loading frames, and A1out's ids
	a1in   frameList // 2Q only
	am     frameList
	ghosts ghostList // 2Q only: A1out
	free   []*frame  // frames holding no page; cap = nframes, so append never allocates
	pinned int       // frames with pins > 0, dropped ones included
	// waiters counts Gets waiting for a frame to be unpinned; freed is
	// closed (and replaced) when one is.
	waiters int
	freed   chan struct{}
	// closed is set by Pool.Close: Get and Prefetch refuse the shard's
	// pages, whose memory may be unmapped.
	closed bool

	hits, misses, evictions, ghostHits, prefetched, bytesRead uint64

	// The fields below are immutable after New.

	twoQ    bool
	nframes int
	kin     int     // A1in may exceed this before reclaim prefers Am
	frames  []frame // backing array of every frame of the shard

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// init sets up the shard over bufs, one buffer per frame.
func (s *shard) init(bufs [][]byte, opts Options) {
	s.nframes = len(bufs)
	s.twoQ = opts.Policy == Policy2Q
	s.frames = make([]frame, s.nframes)
	s.free = make([]*frame, s.nframes)
	for i := range s.frames {
		f := &s.frames[i]
		f.s, f.buf, f.index = s, bufs[i], uint32(i)
		s.free[s.nframes-1-i] = f // the first frame is handed out first
	}
	kout := 0
	if s.twoQ {
		s.kin = fractionOf(opts.KinFraction, s.nframes)
		kout = fractionOf(opts.KoutFraction, s.nframes)
	}
	s.ghosts.init(kout)
	s.table.init(s.nframes + kout)
}

// pinLocked adds a pin to f.
func (s *shard) pinLocked(f *frame) {
	if f.pins == 0 {
		s.pinned++
	}
	f.pins++
}

// unpinLocked removes a pin from f; a dropped frame's last pin frees it.
func (s *shard) unpinLocked(f *frame) {
	f.pins--
	switch {
	case f.pins > 0:
		return
	case f.pins < 0:
		panic("cache: Handle released more often than it was got")
	}
	s.pinned--
	if f.dropped {
		s.freeLocked(f)
	}
	if s.waiters > 0 && s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// freeLocked clears f, which is unpinned and in neither the table nor a
// list, and returns it to the free list.
func (s *shard) freeLocked(f *frame) {
	f.reset()
	s.free = append(s.free, f)
}

// reset clears the fields guarded by the shard's lock, leaving s and buf,
// which readers use without it.
func (f *frame) reset() {
	f.id, f.pins, f.q, f.prev, f.next = PageID{}, 0, qNone, nil, nil
	f.loading, f.wait, f.err, f.dropped, f.ghostRef = false, nil, nil, false, false
}

// touchLocked records a reference to f, which is in the table: Am moves it
// to the head; A1in leaves it in place (2Q ignores correlated references)
// unless a prefetch found its id in A1out.
func (s *shard) touchLocked(f *frame) {
	switch f.q {
	case qAm:
		s.am.moveToFront(f)
	case qA1in:
		if f.ghostRef {
			f.ghostRef = false
			s.a1in.remove(f)
			f.q = qAm
			s.am.pushFront(f)
			s.ghostHits++
		}
	}
}

// claimLocked takes a frame for id, which is not in the table, and enters it
// pinned and loading. A Get (prefetch false) whose id is in A1out puts the
// frame in Am; otherwise it enters A1in (2Q) or the head of the LRU list.
// It returns ErrAllPinned when every frame is pinned, changing nothing.
func (s *shard) claimLocked(id PageID, prefetch bool) (*frame, error) {
	if s.closed {
		return nil, errPoolClosed
	}
	_, ref := s.lookupLocked(id)
	wasGhost := ref&ghostRef != 0
	f, err := s.reclaimLocked()
	if err != nil {
		return nil, err
	}
	// Reclaiming may have moved id's slot, or pushed id off A1out's tail;
	// the reference still counts, since id was remembered when it came.
	slot, ref := s.lookupLocked(id)
	if ref&ghostRef != 0 {
		s.ghosts.unlink(ghostIndex(ref)) // its slot becomes f's below
	}
	f.id, f.loading = id, true
	s.pinLocked(f)
	switch {
	case !s.twoQ:
		f.q = qAm
		s.am.pushFront(f)
	case wasGhost && !prefetch:
		s.ghostHits++
		f.q = qAm
		s.am.pushFront(f)
	default:
		f.q = qA1in
		f.ghostRef = wasGhost
		s.a1in.pushFront(f)
	}
	s.setLocked(slot, id, s.frameRef(f))
	return f, nil
}

// reclaimLocked returns a frame in no list and not in the table: a free one,
// or else the victim of the policy. 2Q takes A1in's oldest unpinned frame when
// A1in holds more than kin frames, and Am's least recently used otherwise;
// when the preferred list has only pinned frames it falls back to the other.
func (s *shard) reclaimLocked() (*frame, error) {
	if n := len(s.free); n > 0 {
		f := s.free[n-1]
		s.free = s.free[:n-1]
		return f, nil
	}
	if s.pinned >= s.nframes {
		return nil, ErrAllPinned
	}
	var v *frame
	if s.twoQ && s.a1in.n > s.kin {
		v = s.a1in.lastUnpinned()
	}
	if v == nil {
		v = s.am.lastUnpinned()
	}
	if v == nil && s.twoQ {
		v = s.a1in.lastUnpinned()
	}
	if v == nil {
		// Unreachable: an unpinned frame that is not free is resident and
		// in a list. Report it as what the caller would see anyway.
		return nil, ErrAllPinned
	}
	if v.q == qA1in && s.ghosts.limit > 0 {
		// v's id goes to A1out, whose entry takes over v's slot.
		if s.ghosts.full() {
			s.forgetGhostLocked(s.ghosts.tail)
		}
		slot, _ := s.lookupLocked(v.id)
		s.setLocked(slot, v.id, ghostRef|uint32(s.ghosts.push(v.id)+1))
		s.a1in.remove(v)
		v.q = qNone
	} else {
		s.unlinkLocked(v)
	}
	s.evictions++
	v.reset()
	return v, nil
}

// unlinkLocked removes f from the table and from its list.
func (s *shard) unlinkLocked(f *frame) {
	if slot, ref := s.lookupLocked(f.id); ref == s.frameRef(f) {
		s.table.deleteAt(slot)
	}
	switch f.q {
	case qA1in:
		s.a1in.remove(f)
	case qAm:
		s.am.remove(f)
	}
	f.q = qNone
}

// dropLocked takes f out of the table and its list. An unpinned frame is
// freed at once; a pinned one is marked dropped and freed by its last
// Release, so readers keep valid bytes while no new Get can find it.
func (s *shard) dropLocked(f *frame) {
	s.unlinkLocked(f)
	if f.pins == 0 {
		s.freeLocked(f)
		return
	}
	f.dropped = true
}

// finishLoad ends the load of f, which the caller pins. On success the frame
// becomes readable and the caller keeps its pin if keepPin is set; on
// failure the frame leaves the table and the caller's pin is dropped. Either
// way, readers waiting for the load are woken.
func (s *shard) finishLoad(f *frame, err error, keepPin, prefetch bool) {
	s.mu.Lock()
	f.loading = false
	wait := f.wait
	f.wait = nil
	if err != nil {
		f.err = err
		if !f.dropped {
			s.dropLocked(f) // pinned by the caller, so only marked
		}
		s.unpinLocked(f)
	} else {
		s.bytesRead += uint64(len(f.buf))
		if prefetch {
			s.prefetched++
		}
		if !keepPin {
			s.unpinLocked(f)
		}
	}
	if wait != nil {
		close(wait)
	}
	s.mu.Unlock()
}
