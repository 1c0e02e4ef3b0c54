package cache

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Prefetch reads ahead for a scan. It takes the run of consecutive pages
// first, first+1, ... of file that are missing from the pool, stopping at the
// first page that is resident or being loaded, after n pages, after a
// quarter of the pool's frames, or when the page's shard has no unpinned
// frame; and it fills them with one call to loadRun, without holding a lock.
// bufs[i] is the frame for page first+i, so len(bufs) says how long the run
// is; loadRun must fill and validate every one, typically with one read of
// len(bufs) pages into a scratch buffer, or a vectored read, then copies.
// The frames are separate slices of the slab, not one contiguous buffer.
//
// Prefetched pages enter the pool unpinned as pages seen once: in A1in under
// Policy2Q, never in Am, so a long scan that prefetches cannot push out the
// hot set. Prefetch is not a reference: a page whose id was in A1out is
// promoted to Am by its first Get, as the miss it replaces would have been.
// Gets of a page while it is being prefetched wait for the run's load.
//
// Prefetch returns the number of pages it loaded. If the first page is
// already present, or no frame can be had, it returns 0 and does not call
// loadRun. If loadRun fails, nothing is cached, readers waiting on the run
// get the error, and Prefetch returns 0 and the error.
func (p *Pool) Prefetch(file base.FileNum, first base.PageNum, n int, loadRun func(bufs [][]byte) error) (int, error) {
	n = min(n, p.maxRun)
	if n <= 0 {
		return 0, nil
	}
	var frames []*frame
	for i := range n {
		id := PageID{File: file, Page: first + base.PageNum(i)}
		if id.Page < first {
			break // the page number wrapped around
		}
		s := p.shardFor(id)
		s.mu.Lock()
		if s.frameLocked(id) != nil {
			s.mu.Unlock()
			break
		}
		f, err := s.claimLocked(id, true)
		s.mu.Unlock()
		if err != nil {
			break
		}
		if frames == nil {
			frames = make([]*frame, 0, n)
		}
		frames = append(frames, f)
	}
	if len(frames) == 0 {
		return 0, nil
	}
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = f.buf
	}
	done := false
	defer func() {
		if !done {
			for _, f := range frames {
				f.s.finishLoad(f, errLoadPanicked, false, true)
			}
		}
	}()
	err := loadRun(bufs)
	done = true
	if err != nil {
		err = fmt.Errorf("pages %d-%d of file %d: %w", first, first+base.PageNum(len(frames)-1), file, err)
	}
	for _, f := range frames {
		f.s.finishLoad(f, err, false, true)
	}
	if err != nil {
		return 0, err
	}
	return len(frames), nil
}
