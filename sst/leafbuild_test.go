package sst

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// TestLeafBuilderSize: the size a leafBuilder tracks as entries arrive is
// exactly the size of the page build lays out, whatever the keys' lengths
// (suffix lengths of one and two varint bytes) and shared prefixes, and
// every staged entry decodes back from the page.
func TestLeafBuilderSize(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const P = 2048
		b := leafBuilder{pageSize: P}
		prefix := rapid.SliceOfN(rapid.SampledFrom([]byte{'a', 'b'}), 0, 200).Draw(rt, "prefix")
		var keys [][]byte
		var last []byte
		for i := rapid.IntRange(1, 60).Draw(rt, "n"); i > 0; i-- {
			k := append(bytes.Clone(prefix), rapid.SliceOfN(rapid.SampledFrom([]byte{'a', 'b', 'c'}), 0, 150).Draw(rt, "suffix")...)
			if last != nil && bytes.Compare(k, last) <= 0 {
				k = append(bytes.Clone(last), 'z') // keep keys increasing
			}
			if len(k) > MaxKeySize(P) {
				break
			}
			// Any seqnum, so trailers of one to eight varint bytes.
			trailer := base.MakeTrailer(base.SeqNum(rapid.Uint64Range(0, uint64(base.MaxSeqNum)).Draw(rt, "seq")), base.KindSet)
			tail := make([]byte, rapid.IntRange(0, 40).Draw(rt, "tail"))
			vf := uint64(len(tail)) << 2
			if b.n() > 0 && !b.fits(k, trailer, vf, len(tail)) {
				break
			}
			b.add(k, trailer, vf, tail)
			keys, last = append(keys, k), k
		}
		page := make([]byte, P)
		if err := b.build(page); err != nil {
			rt.Fatal(err)
		}
		page[1] = leafFlagValueFlags | leafFlagCompactKeys
		binaryPutCount(page, b.n())
		size, _ := b.sizeWith(b.prefix, nil, 0)
		lowest := P
		for i := 0; i < b.n(); i++ {
			lowest = min(lowest, slotOffset(page, i))
		}
		header := pageHeaderSize + slotSize*b.n() + 2 + b.prefix
		if got := header + (P - lowest); got != size {
			rt.Fatalf("tracked size %d, laid out %d", size, got)
		}
		if err := checkLeafPage(page, pageTypeLeaf, leafBounds{ovfEnd: 1}); err != nil {
			rt.Fatalf("built page does not check: %v", err)
		}
		for i, k := range keys {
			if !userKeyAt(page, i, k) {
				rt.Fatalf("slot %d does not hold key %q", i, k)
			}
		}
	})
}

// binaryPutCount sets a page header's count field.
func binaryPutCount(page []byte, n int) {
	page[2], page[3] = byte(n), byte(n>>8)
}
