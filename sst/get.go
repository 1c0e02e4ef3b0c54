package sst

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
)

// GetResult is what Reader.Get found for a key.
type GetResult struct {
	// Found reports whether the file holds a point entry for the key at
	// or below the seqnum asked for.
	Found bool
	// Kind and Seq are the kind and seqnum of that entry; they mean
	// nothing when Found is false.
	Kind base.Kind
	Seq  base.SeqNum
	// Value is the entry's value appended to the dst passed to Get, or
	// dst[:0] when not found; a KindDelete entry has an empty value.
	Value []byte
}

// Get finds the newest point entry for ukey with seqnum <= seq. It probes
// the filter first. When found, the value is appended to dst[:0] and
// returned with the entry's kind and seqnum. Get allocates nothing when dst
// has room for the value.
func (r *Reader) Get(dst, ukey []byte, seq base.SeqNum) (GetResult, error) {
	res := GetResult{Value: dst[:0]}
	if r.closed.Load() {
		return res, base.ErrClosed
	}
	if r.meta.entries == 0 {
		return res, nil
	}
	if r.filter != nil {
		r.bloomChecks.Add(1)
		if !r.filter.MayContain(ukey) {
			r.bloomNegatives.Add(1)
			return res, nil
		}
	}
	var present bool
	var err error
	if bytes.Compare(ukey, r.smallestUser) >= 0 && bytes.Compare(ukey, r.largestUser) <= 0 {
		res, present, err = r.get(res.Value, ukey, min(seq, base.MaxSeqNum))
		if res.Found && r.globalSeq != 0 {
			// Every entry is at seqnum 0 on disk, the key's only one.
			if res.Seq, res.Found = r.globalSeq, r.globalSeq <= seq; !res.Found {
				res.Value = res.Value[:0]
			}
		}
	}
	if r.filter != nil && err == nil && !present {
		r.bloomFalsePositives.Add(1)
	}
	return res, err
}

// get searches the tree for (ukey, seq). present reports whether the file
// holds any entry for ukey (found, or only entries newer than seq).
func (r *Reader) get(dst, ukey []byte, seq base.SeqNum) (res GetResult, present bool, err error) {
	target := base.MakeInternalKey(ukey, seq, base.KindMax)
	m := r.meta
	if r.search == SearchLeafBinary && m.overflowPages == 0 && m.leafPages > 0 {
		return r.getByLeafSearch(dst, ukey, target)
	}
	pn := m.root
	// right is the root of the subtree just right of the descent path at
	// the deepest level that has one; rightLevel its level (0 = leaf).
	var right uint32
	rightLevel := -1
	for level := m.height; level > 0; level-- {
		h, page, err := r.nodePage(pn)
		if err != nil {
			return GetResult{Value: dst}, false, err
		}
		n := pageCount(page)
		i := searchNode(page, n, target, false)
		if i+1 < n {
			if right, err = r.nodeChild(page, pn, i+1, level-1); err != nil {
				h.Release()
				return GetResult{Value: dst}, false, err
			}
			rightLevel = level - 1
		}
		child, err := r.nodeChild(page, pn, i, level-1)
		h.Release()
		if err != nil {
			return GetResult{Value: dst}, false, err
		}
		pn = child
	}
	h, page, err := r.readPage(pn, pageTypeLeaf)
	if err != nil {
		return GetResult{Value: dst}, false, err
	}
	n := pageCount(page)
	i := searchLeaf(page, n, target)
	if i < n {
		if i > 0 {
			present = userKeyAt(page, i-1, ukey)
		}
	} else {
		// Every entry of this leaf sorts before target; the answer, if
		// any, is the first entry of the next leaf.
		present = userKeyAt(page, n-1, ukey)
		h.Release()
		if rightLevel < 0 {
			return GetResult{Value: dst}, present, nil
		}
		if h, page, err = r.leftmostLeaf(right, rightLevel); err != nil {
			return GetResult{Value: dst}, present, err
		}
		i = 0
	}
	return r.finishGet(dst, ukey, h, page, pn, i, present)
}

// leftmostLeaf descends from page pn at the given level (0 = leaf) along
// the first children and returns the leaf pinned.
func (r *Reader) leftmostLeaf(pn uint32, level int) (cache.Handle, []byte, error) {
	for ; level > 0; level-- {
		h, page, err := r.nodePage(pn)
		if err != nil {
			return cache.Handle{}, nil, err
		}
		child, err := r.nodeChild(page, pn, 0, level-1)
		h.Release()
		if err != nil {
			return cache.Handle{}, nil, err
		}
		pn = child
	}
	return r.readPage(pn, pageTypeLeaf)
}

// finishGet decodes the entry at slot i of the pinned leaf pn, which is the
// first entry at or after the search target, and releases the leaf.
func (r *Reader) finishGet(dst, ukey []byte, h cache.Handle, page []byte, pn uint32, i int, present bool) (_ GetResult, _ bool, err error) {
	e, ok := decodeLeafEntry(page, i)
	if !ok || !e.pointKind() {
		h.Release()
		return GetResult{Value: dst}, present, r.corrupt(pn, fmt.Errorf("slot %d: malformed entry", i))
	}
	if prefix, _ := leafPrefix(page); !keyIs(prefix, e.suffix, ukey) {
		h.Release()
		return GetResult{Value: dst}, present, nil
	}
	ik := base.InternalKey{Trailer: e.trailer}
	// An inline value aliases the leaf, which stays pinned while it is
	// copied; an overflowed one is read after the leaf is let go.
	inline := !e.overflow
	if !inline {
		h.Release()
	}
	dst, err = r.appendValue(dst, &e, pn, i, nil)
	if inline {
		h.Release()
	}
	if err != nil {
		return GetResult{Value: dst[:0]}, true, err
	}
	return GetResult{Found: true, Kind: ik.Kind(), Seq: ik.SeqNum(), Value: dst}, true, nil
}

// SearchMode is how Get locates a key's leaf page.
type SearchMode int

// The search modes.
const (
	// SearchBTree descends the file's B+Tree: height+1 page reads.
	SearchBTree SearchMode = iota
	// SearchLeafBinary binary-searches the leaf pages by their first key:
	// about log2(leaves) page reads. It applies to files without overflow
	// pages (where leaf i is page 1+i); other files use the B+Tree.
	SearchLeafBinary
)

// getByLeafSearch is get with SearchLeafBinary.
func (r *Reader) getByLeafSearch(dst, ukey []byte, target base.InternalKey) (res GetResult, present bool, err error) {
	leaves := int(r.meta.leafPages)
	// j = the first leaf whose first key sorts after target.
	lo, hi := 0, leaves
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		h, page, err := r.readPage(uint32(1+mid), pageTypeLeaf)
		if err != nil {
			return GetResult{Value: dst}, false, err
		}
		c, ok := compareLeafKeyAt(page, 0, target)
		h.Release()
		if !ok {
			return GetResult{Value: dst}, false, r.corrupt(uint32(1+mid), fmt.Errorf("slot 0: malformed key"))
		}
		if c > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	leaf := max(lo-1, 0)
	pn := uint32(1 + leaf)
	h, page, err := r.readPage(pn, pageTypeLeaf)
	if err != nil {
		return GetResult{Value: dst}, false, err
	}
	n := pageCount(page)
	i := searchLeaf(page, n, target)
	if i > 0 && i <= n {
		present = userKeyAt(page, i-1, ukey)
	}
	if i == n {
		h.Release()
		if leaf+1 >= leaves {
			return GetResult{Value: dst}, present, nil
		}
		pn++
		if h, page, err = r.readPage(pn, pageTypeLeaf); err != nil {
			return GetResult{Value: dst}, present, err
		}
		i = 0
	}
	return r.finishGet(dst, ukey, h, page, pn, i, present)
}
