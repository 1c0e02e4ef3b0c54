package sst

import (
	"encoding/binary"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// maxHeight bounds the node levels a reader follows, so a corrupt file
// cannot send a descent around a cycle. With at least 3 children per node
// and 2^32 pages a real tree is never deeper than 21.
const maxHeight = 32

// decodeNodeEntry decodes the entry in slot i of a node page: the separator
// (an encoded internal key) and the child page. ok is false for a malformed
// entry.
func decodeNodeEntry(page []byte, i int) (sep []byte, child uint32, ok bool) {
	off := slotOffset(page, i)
	if off < pageHeaderSize {
		return nil, 0, false
	}
	kl, off, ok := readUvarint(page, off, uint64(len(page)))
	if !ok || kl < base.TrailerLen {
		return nil, 0, false
	}
	end := off + int(kl)
	if end+4 > len(page) {
		return nil, 0, false
	}
	return page[off:end:end], binary.LittleEndian.Uint32(page[end:]), true
}

// searchNode returns the slot of the last separator of a node page that is
// <= target (< target when strict), or 0 when there is none.
func searchNode(page []byte, n int, target base.InternalKey, strict bool) int {
	lo, hi := 0, n // find the first separator > target (>= when strict)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		sep, _, ok := decodeNodeEntry(page, mid)
		c := 1
		if ok {
			c = compareEncoded(sep, target)
		}
		if c < 0 || (c == 0 && !strict) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return max(lo-1, 0)
}

// checkNodePage verifies the body of a node page whose header was already
// checked: every entry decodes, separators are strictly increasing and
// children lie in pages [1, total).
func checkNodePage(page []byte, total uint32) error {
	n, err := checkSlots(page)
	if err != nil {
		return err
	}
	maxKey := maxEncodedKey(len(page))
	var prev []byte
	for i := 0; i < n; i++ {
		sep, child, ok := decodeNodeEntry(page, i)
		if !ok {
			return fmt.Errorf("slot %d: malformed entry", i)
		}
		if len(sep) > maxKey {
			return fmt.Errorf("slot %d: separator of %d bytes exceeds %d", i, len(sep), maxKey)
		}
		if child < 1 || child >= total {
			return fmt.Errorf("slot %d: child page %d outside [1, %d)", i, child, total)
		}
		if prev != nil && compareEncodedKeys(prev, sep) >= 0 {
			return fmt.Errorf("slot %d: separator not after slot %d", i, i-1)
		}
		prev = sep
	}
	return nil
}
