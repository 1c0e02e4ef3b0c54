package sst

import (
	"encoding/binary"
	"fmt"

	"github.com/seed-d6fe07da/strata/vfs"
)

// Layout describes how a file's pages are laid out, for tools that show
// it (the strata command's sst dump). Properties holds the counts, keys
// and seqnums of the metadata page; Layout adds what is left of it and
// what only reading every page tells.
type Layout struct {
	// Version is the file's format version.
	Version int
	// Root is the B+Tree's root page: a leaf when Properties.Height is 0,
	// and 0 in a file without point entries.
	Root uint32
	// The first page of each section after the leaf section (each equals
	// the next when its section is empty).
	RangeDelFirst, NodeFirst, ValueDirFirst, BloomFirst uint32
	// PageTypes lists each page type the file holds, in the order of
	// their sections (metadata, leaf, overflow, value, range-del, node,
	// value-directory, bloom): its name ("metadata", "leaf", "node", "value", ...),
	// its page count, and the bytes those pages use (header, slot array,
	// key prefix and entries, or payload; the rest of each page is free).
	PageTypes []struct {
		Type      string
		Pages     uint32
		UsedBytes uint64
	}
	// NodesPerLevel[i] counts the node pages i+1 levels above the leaves,
	// as a walk of the tree from its root reaches them.
	NodesPerLevel []int
	// BloomBytes is the length of the filter's encoding, BloomHashes its
	// hash function count and BloomBitsPerKey its bits per key as the
	// filter records them; all zero without a filter.
	BloomBytes, BloomHashes int
	BloomBitsPerKey         float64
}

// Layout reads every page of the file outside the buffer pool, as Verify
// does, checks each (checksum, type for its section, structure) and
// returns the layout. A damaged page, or a tree that does not reach each
// leaf once, is an error wrapping base.ErrCorruption naming the page.
func (r *Reader) Layout() (Layout, error) {
	m := r.meta
	l := Layout{
		Version:       int(m.version),
		Root:          m.root,
		RangeDelFirst: m.rangeDelFirst,
		NodeFirst:     m.nodeFirst(),
		ValueDirFirst: m.valueDirFirst(),
		BloomFirst:    m.bloomFirst,
	}
	if r.filter != nil {
		l.BloomBytes, l.BloomHashes, l.BloomBitsPerKey = r.filter.SizeBytes(), r.filter.HashCount(), r.filter.BitsPerKey()
	}
	var pages [pageTypeValueDir + 1]uint32
	var used [pageTypeValueDir + 1]uint64
	// The metadata page was decoded at Open: its body ends after the keys.
	pages[pageTypeMeta], used[pageTypeMeta] = 1, uint64(m.keysOff()+4+len(m.smallest)+len(m.largest))

	isValue := make(map[uint32]bool, len(r.valueDir))
	for _, pn := range r.valueDir {
		isValue[pn] = true
	}
	// children holds each node page's children, and leaf the leaf pages,
	// for the tree walk.
	children := make(map[uint32][]uint32, m.nodePages)
	leaf := make(map[uint32]bool, m.leafPages)
	buf := vfs.AlignedBuffer(m.pageSize, directAlign)
	for pn := uint32(1); pn < m.totalPages; pn++ {
		if err := r.readFull(buf, pn); err != nil {
			return Layout{}, err
		}
		var typ byte
		switch {
		case pn < m.leafEnd() && m.version >= 4 && isValue[pn]:
			typ = pageTypeValue
		case pn < m.leafEnd() && m.version < 4 && buf[0] == pageTypeOverflow:
			typ = pageTypeOverflow
		case pn < m.leafEnd():
			typ = pageTypeLeaf
		case pn < l.NodeFirst:
			typ = pageTypeRangeDel
		case pn < l.ValueDirFirst:
			typ = pageTypeNode
		case pn < l.BloomFirst:
			typ = pageTypeValueDir
		default:
			typ = pageTypeBloom
		}
		if err := r.check(buf, pn, typ); err != nil {
			return Layout{}, err
		}
		pages[typ]++
		used[typ] += uint64(pageUsed(buf, typ))
		if typ == pageTypeLeaf {
			leaf[pn] = true
		}
		if typ == pageTypeNode {
			n := pageCount(buf)
			cs := make([]uint32, n)
			for i := range cs {
				_, cs[i], _ = decodeNodeEntry(buf, i) // checked above
			}
			children[pn] = cs
		}
	}
	if got := pages[pageTypeLeaf]; got != m.leafPages {
		return Layout{}, r.corrupt(0, fmt.Errorf("metadata counts %d leaf pages, the section holds %d", m.leafPages, got))
	}
	for _, typ := range []byte{pageTypeMeta, pageTypeLeaf, pageTypeOverflow, pageTypeValue, pageTypeRangeDel, pageTypeNode, pageTypeValueDir, pageTypeBloom} {
		if pages[typ] > 0 {
			l.PageTypes = append(l.PageTypes, struct {
				Type      string
				Pages     uint32
				UsedBytes uint64
			}{pageTypeName(typ), pages[typ], used[typ]})
		}
	}

	// Walk the tree a level at a time; each page may be reached once, so
	// a corrupt file cannot make the walk go round or blow up.
	if m.leafPages == 0 {
		return l, nil
	}
	l.NodesPerLevel = make([]int, m.height)
	seen := map[uint32]bool{m.root: true}
	level := []uint32{m.root}
	for h := m.height; h > 0; h-- {
		l.NodesPerLevel[h-1] = len(level)
		var next []uint32
		for _, pn := range level {
			cs, ok := children[pn]
			if !ok {
				return Layout{}, r.corrupt(pn, fmt.Errorf("node at level %d is not a node page", h))
			}
			for _, c := range cs {
				if err := r.checkChild(pn, c, h-1); err != nil {
					return Layout{}, err
				}
				if seen[c] {
					return Layout{}, r.corrupt(pn, fmt.Errorf("child page %d is reached twice", c))
				}
				seen[c] = true
				next = append(next, c)
			}
		}
		level = next
	}
	for _, pn := range level {
		if !leaf[pn] {
			return Layout{}, r.corrupt(pn, fmt.Errorf("the tree leads to page %d, not a leaf", pn))
		}
	}
	if uint32(len(level)) != m.leafPages {
		return Layout{}, r.corrupt(m.root, fmt.Errorf("the tree reaches %d of %d leaves", len(level), m.leafPages))
	}
	return l, nil
}

// pageUsed returns the bytes of a checked page of type typ that hold
// something: the header, and the slot array, key prefix and entries of a
// slotted page or the payload of the others.
func pageUsed(page []byte, typ byte) int {
	n := pageCount(page)
	switch typ {
	case pageTypeLeaf, pageTypeRangeDel, pageTypeNode:
		lo := pageHeaderSize + slotSize*n
		if typ != pageTypeNode && compactKeys(page) {
			lo += 2 + int(binary.LittleEndian.Uint16(page[lo:]))
		}
		first := len(page)
		for i := 0; i < n; i++ {
			first = min(first, slotOffset(page, i))
		}
		return lo + len(page) - first
	}
	return pageHeaderSize + n
}
