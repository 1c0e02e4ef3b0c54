package sst

import (
	"encoding/binary"
	"fmt"
)

// leafBuilder stages the entries of the compact leaf being written. The
// page stores the user-key prefix its entries share once, and that prefix
// is known only when the page is full, so entries wait in buf until build
// lays the page out. size tracks, as entries arrive, the bytes the page
// would take with the prefix as it then stands.
type leafBuilder struct {
	pageSize int
	buf      []byte // per entry: its user key, then its tail
	ents     []stagedEntry
	prefix   int // length of the prefix every staged user key shares
	keyBytes int // sum of the staged user keys' lengths
	fixed    int // sum of slot, trailer and value-field varints, tails
	// longSuffixes counts staged entries whose suffix (key past the
	// prefix) needs a two-byte length varint.
	longSuffixes int
}

// stagedEntry is one entry in leafBuilder.buf.
type stagedEntry struct {
	off, keyLen, tailLen int
	trailer, vf          uint64
}

func (b *leafBuilder) reset() {
	b.buf = b.buf[:0]
	b.ents = b.ents[:0]
	b.prefix, b.keyBytes, b.fixed, b.longSuffixes = 0, 0, 0, 0
}

// n returns the number of staged entries.
func (b *leafBuilder) n() int { return len(b.ents) }

// key returns staged entry i's user key.
func (b *leafBuilder) key(i int) []byte {
	e := &b.ents[i]
	return b.buf[e.off : e.off+e.keyLen]
}

// sharedPrefix returns how long a prefix key shares with the staged
// entries, which all share b.prefix bytes of the first key.
func (b *leafBuilder) sharedPrefix(key []byte) int {
	if len(b.ents) == 0 {
		return len(key)
	}
	first := b.key(0)[:b.prefix]
	n := 0
	for n < len(first) && n < len(key) && first[n] == key[n] {
		n++
	}
	return n
}

// entryFixed is the part of an entry's size, slot included, that does not
// depend on the prefix.
func entryFixed(trailer, vf uint64, tailLen int) int {
	return slotSize + uvarintLen(trailer) + uvarintLen(vf) + tailLen
}

// sizeWith returns the bytes the page needs for the staged entries plus one
// more (key, fixed) when the prefix is p, and how many suffixes would then
// need two-byte lengths. With no extra entry pass key nil and fixed 0.
func (b *leafBuilder) sizeWith(p int, key []byte, fixed int) (size, long int) {
	if p == b.prefix {
		long = b.longSuffixes
	} else {
		for i := range b.ents {
			if b.ents[i].keyLen-p >= 0x80 {
				long++
			}
		}
	}
	n, keyBytes := len(b.ents), b.keyBytes
	if key != nil {
		n++
		keyBytes += len(key)
		fixed += b.fixed
		if len(key)-p >= 0x80 {
			long++
		}
	} else {
		fixed = b.fixed
	}
	// header | slots (in fixed) | uint16 prefix length | prefix | entries
	return pageHeaderSize + 2 + p + fixed + keyBytes - n*p + n + long, long
}

// fits reports whether an entry with this user key, trailer, value field
// and tail length fits the page along with the staged ones.
func (b *leafBuilder) fits(key []byte, trailer, vf uint64, tailLen int) bool {
	size, _ := b.sizeWith(b.sharedPrefix(key), key, entryFixed(trailer, vf, tailLen))
	return size <= b.pageSize
}

// add stages an entry; the caller checked fits (or the page is empty).
func (b *leafBuilder) add(key []byte, trailer, vf uint64, tail []byte) {
	p := b.sharedPrefix(key)
	_, long := b.sizeWith(p, key, entryFixed(trailer, vf, len(tail)))
	b.ents = append(b.ents, stagedEntry{off: len(b.buf), keyLen: len(key), tailLen: len(tail), trailer: trailer, vf: vf})
	b.buf = append(append(b.buf, key...), tail...)
	b.prefix, b.longSuffixes = p, long
	b.keyBytes += len(key)
	b.fixed += entryFixed(trailer, vf, len(tail))
}

// build lays the staged entries out in page (pageSize bytes; the header is
// left for sealPage): slots, the prefix field, free space, then entries
// packed from the end, the first entry last. It reports an error, writing
// nothing, if they do not fit, which fits prevents.
func (b *leafBuilder) build(page []byte) error {
	if size, _ := b.sizeWith(b.prefix, nil, 0); size > len(page) {
		return fmt.Errorf("sst: leaf of %d entries needs %d bytes, page has %d", len(b.ents), size, len(page))
	}
	clear(page)
	p := b.prefix
	lo := pageHeaderSize + slotSize*len(b.ents)
	binary.LittleEndian.PutUint16(page[lo:], uint16(p))
	copy(page[lo+2:], b.key(0)[:p])
	hi := len(page)
	for i := range b.ents {
		e := &b.ents[i]
		suffix := b.buf[e.off+p : e.off+e.keyLen]
		tail := b.buf[e.off+e.keyLen : e.off+e.keyLen+e.tailLen]
		size := uvarintLen(uint64(len(suffix))) + len(suffix) + uvarintLen(e.trailer) + uvarintLen(e.vf) + len(tail)
		hi -= size
		binary.LittleEndian.PutUint16(page[pageHeaderSize+slotSize*i:], uint16(hi))
		j := hi + binary.PutUvarint(page[hi:], uint64(len(suffix)))
		j += copy(page[j:], suffix)
		j += binary.PutUvarint(page[j:], e.trailer)
		j += binary.PutUvarint(page[j:], e.vf)
		copy(page[j:], tail)
	}
	return nil
}
