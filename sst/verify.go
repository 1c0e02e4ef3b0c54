package sst

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// VerifyStats counts what Verify read.
type VerifyStats struct {
	// Pages and Entries count the pages read and point entries decoded.
	Pages, Entries uint64
}

// Verify reads the whole file outside the buffer pool and checks
// everything that can be checked without other files: every page's
// checksum, type and structure for its section; the leaves' entries in
// strictly increasing order, of point kinds, with seqnums inside the
// metadata's range and every value readable (overflow pages, Snappy
// blocks); the metadata's counts and boundary keys; the B+Tree, whose
// nodes must reach every leaf exactly once and in order, with each
// separator equal to the first key of its child; the range deletions'
// seqnums; and the Bloom filter, which must answer "maybe" for every user
// key the file holds. The first problem found is returned as an error
// wrapping base.ErrCorruption that names the file and page.
func (r *Reader) Verify() (VerifyStats, error) {
	v := verifier{r: r, m: r.meta}
	err := v.run()
	return v.stats, err
}

type verifier struct {
	r     *Reader
	m     *metadata
	stats VerifyStats
	buf   []byte
	// leaves are the leaf pages in file order, and firstKeys their first
	// keys (encoded), for the tree walk.
	leaves    []uint32
	firstKeys [][]byte
}

// page reads page pn into the verifier's buffer and checks it as type typ.
func (v *verifier) page(pn uint32, typ byte) ([]byte, error) {
	P := v.m.pageSize
	if v.buf == nil {
		v.buf = vfs.AlignedBuffer(P, directAlign)
	}
	if err := v.r.readFull(v.buf, pn); err != nil {
		return nil, err
	}
	if err := v.r.check(v.buf, pn, typ); err != nil {
		return nil, err
	}
	if typ == pageTypeLeaf || typ == pageTypeRangeDel {
		// Whole, as -tags invariants checks leaves when they are read.
		if err := checkLeafPage(v.buf, typ, v.m.leafBounds()); err != nil {
			return nil, v.r.corrupt(pn, err)
		}
	}
	v.stats.Pages++
	return v.buf, nil
}

func (v *verifier) run() error {
	r, m := v.r, v.m
	if size, err := r.f.Size(); err != nil {
		return fmt.Errorf("sst: %s: %w", r.name, err)
	} else if size != int64(m.totalPages)*int64(m.pageSize) {
		return r.corrupt(0, fmt.Errorf("file of %d bytes, metadata says %d pages of %d", size, m.totalPages, m.pageSize))
	}
	v.stats.Pages++ // the metadata page, read at Open
	if err := v.leafSection(); err != nil {
		return err
	}
	for pn := m.rangeDelFirst; pn < m.rangeDelFirst+m.rangeDelPages; pn++ {
		if _, err := v.page(pn, pageTypeRangeDel); err != nil {
			return err
		}
	}
	for _, rd := range r.rangeDels {
		if rd.Seq < m.smallestSeq || rd.Seq > m.largestSeq {
			return r.corrupt(m.rangeDelFirst, fmt.Errorf("range deletion at seqnum %d outside the file's [%d, %d]", rd.Seq, m.smallestSeq, m.largestSeq))
		}
	}
	for pn := m.bloomFirst; pn < m.bloomFirst+m.bloomPages; pn++ {
		if _, err := v.page(pn, pageTypeBloom); err != nil {
			return err
		}
	}
	return v.tree()
}

// leafSection reads the leaf section in order: leaves and the overflow
// pages of their values.
func (v *verifier) leafSection() error {
	r, m := v.r, v.m
	it := r.NewScanIter(0)
	it.storedSeqs = true
	defer it.Close()

	var prev base.InternalKey
	var prevBuf []byte
	var n uint64
	lastLeaf := uint32(0)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if it.pn != lastLeaf {
			// The scan checked the page as a reader would; check every
			// entry too, as -tags invariants does.
			if err := checkLeafPage(it.page, pageTypeLeaf, m.leafBounds()); err != nil {
				return r.corrupt(it.pn, err)
			}
			lastLeaf = it.pn
			v.leaves = append(v.leaves, it.pn)
			v.firstKeys = append(v.firstKeys, k.AppendEncoded(nil))
			v.stats.Pages++
		}
		if n > 0 && base.CompareInternal(prev, k) >= 0 {
			return r.corrupt(it.pn, fmt.Errorf("slot %d: key %s not after %s", it.idx, k, prev))
		}
		if s := k.SeqNum(); s < m.smallestSeq || s > m.largestSeq {
			return r.corrupt(it.pn, fmt.Errorf("slot %d: seqnum %d outside the file's [%d, %d]", it.idx, s, m.smallestSeq, m.largestSeq))
		}
		if n == 0 && !bytes.Equal(k.AppendEncoded(nil), m.smallest) {
			return r.corrupt(it.pn, fmt.Errorf("first key %s is not the metadata's smallest", k))
		}
		if k.Kind() != base.KindDelete && it.Value() == nil && it.Error() != nil {
			return it.Error()
		}
		if r.filter != nil && !r.filter.MayContain(k.UserKey) {
			return r.corrupt(m.bloomFirst, fmt.Errorf("the filter misses key %q", k.UserKey))
		}
		prevBuf = k.AppendEncoded(prevBuf[:0])
		prev, _ = base.DecodeInternalKey(prevBuf)
		n++
	}
	if err := it.Error(); err != nil {
		return err
	}
	// The directory was read at Open; the overflow pages of versions 1
	// to 3 by the scan. Value pages are counted below.
	v.stats.Pages += uint64(m.valueDirPages)
	if m.version < 4 {
		v.stats.Pages += uint64(m.overflowPages)
	}
	v.stats.Entries = n
	// The scan read the value pages its entries reference; every page the
	// directory lists must be one, whatever it holds.
	for i, pn := range r.valueDir {
		page, err := v.page(pn, pageTypeValue)
		if err != nil {
			return err
		}
		if err := r.checkValuePage(page, uint64(i)); err != nil {
			return err
		}
	}
	if n != m.entries {
		return r.corrupt(0, fmt.Errorf("metadata counts %d entries, the leaves hold %d", m.entries, n))
	}
	if n > 0 && !bytes.Equal(prevBuf, m.largest) {
		return r.corrupt(0, fmt.Errorf("last key %s is not the metadata's largest", prev))
	}
	if uint32(len(v.leaves)) != m.leafPages {
		return r.corrupt(0, fmt.Errorf("metadata counts %d leaf pages, the section holds %d", m.leafPages, len(v.leaves)))
	}
	return nil
}

// tree walks the B+Tree from the root and checks that it reaches the leaves
// in file order, each once, under separators equal to their first keys.
func (v *verifier) tree() error {
	m := v.m
	if m.leafPages == 0 {
		return nil
	}
	next := 0 // index in v.leaves of the leaf the walk must reach next
	var walk func(pn uint32, level int, sep []byte) error
	walk = func(pn uint32, level int, sep []byte) error {
		if level == 0 {
			if next >= len(v.leaves) || v.leaves[next] != pn {
				return v.r.corrupt(pn, fmt.Errorf("the tree reaches leaf %d out of order", pn))
			}
			if sep != nil && !bytes.Equal(sep, v.firstKeys[next]) {
				return v.r.corrupt(pn, fmt.Errorf("separator differs from the leaf's first key"))
			}
			next++
			return nil
		}
		page, err := v.page(pn, pageTypeNode)
		if err != nil {
			return err
		}
		n := pageCount(page)
		type child struct {
			pn  uint32
			sep []byte
		}
		children := make([]child, n)
		for i := 0; i < n; i++ {
			s, c, _ := decodeNodeEntry(page, i) // checked by page
			if err := v.r.checkChild(pn, c, level-1); err != nil {
				return err
			}
			children[i] = child{c, bytes.Clone(s)}
		}
		if sep != nil && !bytes.Equal(sep, children[0].sep) {
			return v.r.corrupt(pn, fmt.Errorf("separator differs from the node's first separator"))
		}
		for _, c := range children {
			if err := walk(c.pn, level-1, c.sep); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(m.root, m.height, nil); err != nil {
		return err
	}
	if next != len(v.leaves) {
		return v.r.corrupt(m.root, fmt.Errorf("the tree reaches %d of %d leaves", next, len(v.leaves)))
	}
	return nil
}
