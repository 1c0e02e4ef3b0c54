package sst

import (
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// # Readahead
//
// Leaves are contiguous, apart from the overflow pages written just before
// the leaf that references them, so a scan reads pages 1 .. leafEnd-1 in
// order. When an iterator's Next crosses into the following leaf (or Prev
// into the preceding one) for the second time since its last seek (a short
// scan after a seek, such as seek-and-next-100 over a merge of many runs,
// rarely leaves the first or second leaf of a run, and reading eight pages
// for it would cost a larger read, eight checksums and seven frames of
// cache), it asks the pool to prefetch a run of pages starting at (ending
// at) that leaf, before
// reading the leaf itself: cache.Pool.Prefetch claims frames for the pages of
// the run that are missing, up to the first one that is resident, and
// readRun fills them with one read of the whole run into a scratch buffer
// (aligned under DirectIO), then copies and validates each page. The leaf
// the iterator wanted is then a hit, and so are the next ones. The run never
// leaves the leaf section; an overflow page inside it is validated as one,
// and the pool's type check at readPage still catches a reference to a page
// of the wrong type.
//
// Reading an overflowed value, or the Bloom filter at Open, prefetches its
// pages the same way, since all of them are known to be needed: one read per
// run instead of one per page.
//
// Prefetched pages enter the pool as pages seen once (A1in under 2Q), so a
// long scan that reads ahead cycles through A1in and leaves the hot set in
// Am alone, exactly as its page-at-a-time misses would.
//
// Readahead is advisory. A run that fails to read or validate caches
// nothing and is not retried for the pages it covered: the iterator reads
// them one at a time, and the page it needs reports the error, if any.
//
// The first run after a seek is two pages long and each next one twice as
// long as the one before, up to ReaderOptions.Readahead pages, so a scan of
// a few leaves reads little it will not use while a long scan soon reads
// Readahead pages at a time.
//
// The iterator remembers the window of pages its last run covered and asks
// again only for a leaf outside it, so the leaves a run brought in cost no
// second look. Asking at every leaf would take a shard lock per leaf only
// to find it resident. Outside the window, on a file that is already
// cached, each crossing still pays that one lock, which a scan amortises
// over a leaf's entries; remembering resident leaves to avoid it would need
// state the pool can invalidate at any time.

// readaheadAfter is the number of leaves an iterator enters by Next or Prev
// since its last seek before it reads ahead.
const readaheadAfter = 2

// defaultReadahead is the number of pages a scan reads ahead when
// ReaderOptions.Readahead is 0.
const defaultReadahead = 8

// window is a range [lo, hi) of page numbers a prefetch covered.
type window struct{ lo, hi uint32 }

func (w window) contains(pn uint32) bool { return pn >= w.lo && pn < w.hi }

// readahead prefetches for an iterator crossing sequentially into leaf pn,
// forward (toward higher pages) or backward.
func (it *Iter) readahead(pn uint32, forward bool) {
	r := it.r
	if r.readahead <= 0 || it.ra.contains(pn) {
		return
	}
	leafEnd := r.meta.leafEnd()
	if pn < 1 || pn >= leafEnd {
		return // not a leaf page; readPage will say so
	}
	size := min(r.readahead, 2<<min(it.raRuns, 16))
	it.raRuns++
	if forward {
		n := min(uint32(size), leafEnd-pn)
		got, err := r.prefetch(pn, int(n), anySectionPage)
		switch {
		case err != nil:
			it.ra = window{pn, pn + n}
		case got == 0:
			it.ra = window{pn, pn + 1} // pn is resident: try again at the next leaf
		default:
			it.ra = window{pn, pn + uint32(got)}
		}
		return
	}
	// Backward, the run ends at pn. Prefetch stops short of it at a
	// resident page or at the pool's limit on a run, so go on from there:
	// every page up to pn is about to be read anyway. Each round loads
	// pages or steps over a resident one, so there are at most size.
	first := max(1, pn-min(pn, uint32(size-1)))
	for start := first; start <= pn; {
		got, err := r.prefetch(start, int(pn-start+1), anySectionPage)
		if err != nil {
			break
		}
		start += max(uint32(got), 1)
	}
	it.ra = window{first, pn + 1}
}

// anySectionPage, as the type of a run, stands for a leaf or an overflow
// page: whichever the page says it is.
const anySectionPage byte = 0

// prefetch asks the pool to load n pages from first on, of type typ (or
// anySectionPage), with one read. It returns how many it loaded.
func (r *Reader) prefetch(first uint32, n int, typ byte) (int, error) {
	got, err := r.cache.Prefetch(r.fileNum, base.PageNum(first), n, func(bufs [][]byte) error {
		return r.readRun(first, bufs, typ)
	})
	if got > 0 {
		r.prefetches.Add(1)
		r.prefetchedPages.Add(uint64(got))
	}
	return got, err
}

// readRun fills bufs with pages first, first+1, ... and validates each as
// load does, as a page of type typ, or for anySectionPage as the leaf or
// overflow page it claims to be.
func (r *Reader) readRun(first uint32, bufs [][]byte, typ byte) error {
	if len(bufs) == 1 {
		if err := r.readFull(bufs[0], first); err != nil {
			return err
		}
		return r.checkRunPage(bufs[0], first, typ)
	}
	P := r.meta.pageSize
	want := len(bufs) * P
	if vr, ok := r.f.(vfs.VectorReader); ok && !r.direct {
		// Straight into the frames: no scratch buffer, no copy.
		n, err := vr.ReadvAt(bufs, int64(first)*int64(P))
		if err := r.readResult(first, n, want, err); err != nil {
			return err
		}
		for i, buf := range bufs {
			if err := r.checkRunPage(buf, first+uint32(i), typ); err != nil {
				return err
			}
		}
		return nil
	}
	data, s, err := r.readSpan(int64(first)*int64(P), want)
	defer r.scratch.put(s)
	if err := r.readResult(first, len(data), want, err); err != nil {
		return err
	}
	for i, buf := range bufs {
		copy(buf, data[i*P:(i+1)*P])
		if err := r.checkRunPage(buf, first+uint32(i), typ); err != nil {
			return err
		}
	}
	return nil
}

// checkRunPage validates page pn of a run as a page of type typ. For
// anySectionPage it takes the type the page claims when that is overflow,
// and leaf otherwise, so any other type fails as a leaf would.
func (r *Reader) checkRunPage(buf []byte, pn uint32, typ byte) error {
	if typ == anySectionPage {
		typ = pageTypeLeaf
		if buf[0] == pageTypeOverflow || buf[0] == pageTypeValue {
			typ = buf[0]
		}
	}
	return r.check(buf, pn, typ)
}
