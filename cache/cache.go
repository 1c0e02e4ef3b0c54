// Package cache is the buffer pool: fixed-size page frames keyed by (file,
// page), pinned while a reader decodes from them.
//
// This first version uses a single LRU list under one mutex; the 2Q policy
// and sharding arrive with the buffer-pool issue without changing the API.
package cache

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// ErrAllPinned is returned by Get when every frame is pinned and no frame can
// be freed for a missing page.
var ErrAllPinned = errors.New("strata: buffer pool: every frame is pinned")

// PageID names one page of one file.
type PageID struct {
	File base.FileNum
	Page base.PageNum
}

// Options configures a Pool.
type Options struct {
	// Capacity is the pool size in bytes; the pool holds Capacity/PageSize
	// frames (at least 16).
	Capacity int64
	// PageSize is the size of every frame.
	PageSize int
}

// Metrics counts what the pool did.
type Metrics struct {
	Hits, Misses, Evictions uint64
	Frames, Pinned          int
	BytesRead               uint64
}

// Pool is a buffer pool of fixed-size frames. It is safe for concurrent use.
type Pool struct {
	pageSize int
	nframes  int

	mu sync.Mutex
	// The fields below are guarded by mu.
	table   map[PageID]*frame
	lru     *list.List // unpinned resident frames, front = most recent
	free    [][]byte   // unused buffers
	used    int        // frames allocated so far
	metrics Metrics
}

type frame struct {
	id      PageID
	buf     []byte
	pins    int
	elem    *list.Element // in lru when pins == 0 and loaded
	loading chan struct{} // closed when the load finishes
	err     error         // load error, valid after loading is closed
	dropped bool          // removed from the table while pinned
}

// New returns an empty pool.
func New(opts Options) *Pool {
	if opts.PageSize <= 0 {
		opts.PageSize = 4096
	}
	n := int(opts.Capacity / int64(opts.PageSize))
	if n < 16 {
		n = 16
	}
	return &Pool{pageSize: opts.PageSize, nframes: n, table: make(map[PageID]*frame), lru: list.New()}
}

// PageSize returns the frame size.
func (p *Pool) PageSize() int { return p.pageSize }

// Handle is a pinned page. The zero Handle is not valid.
type Handle struct {
	p *Pool
	f *frame
}

// Data returns the page bytes. They stay valid until Release.
func (h Handle) Data() []byte { return h.f.buf }

// Release unpins the page. It must be called exactly once per Get.
func (h Handle) Release() {
	p := h.p
	p.mu.Lock()
	h.f.pins--
	if h.f.pins == 0 {
		if h.f.dropped {
			p.free = append(p.free, h.f.buf)
		} else {
			h.f.elem = p.lru.PushFront(h.f)
		}
	}
	p.mu.Unlock()
}

// Get returns page id pinned. On a miss it calls load with a frame buffer of
// PageSize bytes; load fills and validates it. A failed load caches nothing
// and its error is returned to every reader that waited for it. Concurrent
// misses on one page cause one load; the lock is not held during load.
func (p *Pool) Get(id PageID, load func(buf []byte) error) (Handle, error) {
	p.mu.Lock()
	for {
		f, ok := p.table[id]
		if !ok {
			break
		}
		if f.loading != nil {
			ch := f.loading
			f.pins++
			p.mu.Unlock()
			<-ch
			p.mu.Lock()
			if f.err != nil {
				err := f.err
				f.pins--
				if f.pins == 0 {
					p.free = append(p.free, f.buf)
				}
				p.mu.Unlock()
				return Handle{}, err
			}
			p.mu.Unlock()
			return Handle{p, f}, nil
		}
		if f.pins == 0 {
			p.lru.Remove(f.elem)
			f.elem = nil
		}
		f.pins++
		p.metrics.Hits++
		p.mu.Unlock()
		return Handle{p, f}, nil
	}
	p.metrics.Misses++
	buf, err := p.allocLocked()
	if err != nil {
		p.mu.Unlock()
		return Handle{}, err
	}
	f := &frame{id: id, buf: buf, pins: 1, loading: make(chan struct{})}
	p.table[id] = f
	p.mu.Unlock()

	lerr := load(buf)

	p.mu.Lock()
	ch := f.loading
	f.loading = nil
	if lerr != nil {
		f.err = lerr
		delete(p.table, id)
		f.pins--
		f.dropped = true
		if f.pins == 0 {
			p.free = append(p.free, f.buf)
		}
		close(ch)
		p.mu.Unlock()
		return Handle{}, fmt.Errorf("page %d of file %d: %w", id.Page, id.File, lerr)
	}
	p.metrics.BytesRead += uint64(len(buf))
	close(ch)
	p.mu.Unlock()
	return Handle{p, f}, nil
}

// allocLocked returns a free buffer, evicting the least recently used
// unpinned frame if the pool is full.
func (p *Pool) allocLocked() ([]byte, error) {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b, nil
	}
	if p.used < p.nframes {
		p.used++
		return make([]byte, p.pageSize), nil
	}
	e := p.lru.Back()
	if e == nil {
		return nil, ErrAllPinned
	}
	f := e.Value.(*frame)
	p.lru.Remove(e)
	f.elem = nil
	delete(p.table, f.id)
	p.metrics.Evictions++
	return f.buf, nil
}

// EvictFile drops every unpinned page of file from the pool. Call it after
// the file is deleted; pinned pages of the file are dropped when released
// (they are no longer reachable through the table).
func (p *Pool) EvictFile(file base.FileNum) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, f := range p.table {
		if id.File != file || f.loading != nil {
			continue
		}
		delete(p.table, id)
		if f.pins == 0 {
			p.lru.Remove(f.elem)
			f.elem = nil
			p.free = append(p.free, f.buf)
		} else {
			f.dropped = true
		}
	}
}

// Metrics returns a snapshot of the pool's counters.
func (p *Pool) Metrics() Metrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.metrics
	m.Frames = p.nframes
	for _, f := range p.table {
		if f.pins > 0 {
			m.Pinned++
		}
	}
	return m
}
