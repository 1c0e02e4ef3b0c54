package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// The key space is n keys numbered 0..n-1 in windows of windowKeys. Key i
// is
//
//	"w" + 3-digit window (i/100) + "/" + 5-digit i + optional suffix
//
// e.g. "w012/01234" or "w012/01235-\x00q\xff...". The suffix (a quarter of
// the keys, 9 to 45 bytes drawn from a set that includes 0x00 and 0xff)
// comes after the fixed-width digits, so keys sort in the order of their
// numbers and every bound the soak builds maps to a range of numbers:
//
//   - keyOf(i) itself, the first key at or after number i;
//   - succ(keyOf(i-1)) = keyOf(i-1) + "\x00", which lies strictly between
//     keys i-1 and i;
//   - windowPrefix(i/100) = "w012/" when i is a multiple of 100, below key
//     i and above key i-1;
//   - nil, for the first key (a lower bound) or past the last (an upper
//     bound).
//
// keyOf works for any i below 100000, so keyOf(n) is a valid bound past
// the last key.
const (
	windowKeys = 100
	maxKeys    = 99900
)

// keyOf returns key i.
func keyOf(i int) []byte {
	k := make([]byte, 0, 64)
	k = append(k, 'w')
	k = appendPadded(k, i/windowKeys, 3)
	k = append(k, '/')
	k = appendPadded(k, i, 5)
	h := mix64(uint64(i) ^ 0x6b6579)
	if h%4 == 0 {
		const alphabet = "-abcxyz0189\x00\x01\x7f\xfe\xff"
		k = append(k, '-')
		for j, m := 0, 8+int(h>>8%37); j < m; j++ {
			h = mix64(h)
			k = append(k, alphabet[h%uint64(len(alphabet))])
		}
	}
	return k
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// succ returns the smallest key greater than k.
func succ(k []byte) []byte { return append(k[:len(k):len(k)], 0) }

// windowPrefix returns the prefix every key of window w starts with.
func windowPrefix(w int) []byte { return append(appendPadded([]byte{'w'}, w, 3), '/') }

// keyIndex returns the number of key k, or false if k is no key of the
// space (a corrupt or foreign key found by a scan).
func keyIndex(k []byte) (int, bool) {
	if len(k) < 10 || k[0] != 'w' || k[4] != '/' {
		return 0, false
	}
	i, err := strconv.Atoi(string(k[5:10]))
	if err != nil || i < 0 || string(keyOf(i)) != string(k) {
		return 0, false
	}
	return i, true
}

// A version names one write of one key: op<<4 | sub, where op is the
// operation's id (unique over the whole soak, starting at 1) and sub the
// position of the write within a batch (0 for a single Put). Version 0
// means "absent". Batches hold at most maxBatch writes, so sub fits in 4
// bits.
const maxBatch = 16

func version(op uint64, sub int) uint64 { return op<<4 | uint64(sub) }

// valueFor returns the value written to key i by version ver; the checker
// recomputes it rather than storing it. Sizes: 5% empty, 60% 1..128 B,
// 34% 129 B..8 KiB, 1% 8..64 KiB (overflow pages at every page size). Half
// the values are a repeated pattern (snappy keeps them compressed), half
// pseudo-random (stored raw). A value of 16 bytes or more starts with a
// header, version (8 bytes, little-endian), key number (4), length (4), so
// a wrong value found by the checker can be named (describe).
func valueFor(i int, ver uint64) []byte {
	h := mix64(ver*0x9e3779b97f4a7c15 ^ uint64(i))
	var size int
	switch r, h2 := h%1000, h>>10; {
	case r < 50:
		size = 0
	case r < 650:
		size = 1 + int(h2%128)
	case r < 990:
		size = 129 + int(h2%(8192-128))
	default:
		size = 8193 + int(h2%(65536-8192))
	}
	v := make([]byte, size)
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[0:], ver)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(i))
	binary.LittleEndian.PutUint32(hdr[12:], uint32(size))
	n := copy(v, hdr[:])
	x := mix64(h)
	if h>>50&1 == 0 {
		// A pattern of 1..8 bytes repeated.
		period := 1 + int(x%8)
		for j := n; j < size; j++ {
			v[j] = byte(x >> (8 * ((j - n) % period)))
		}
		return v
	}
	for j := n; j < size; j += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(v[j:], w[:])
	}
	return v
}

// describe names a value found in the database, for error messages.
func describe(v []byte) string {
	if len(v) >= 16 {
		ver := binary.LittleEndian.Uint64(v[0:])
		i := int(binary.LittleEndian.Uint32(v[8:]))
		if i < maxKeys && ver > 0 && string(valueFor(i, ver)) == string(v) {
			return fmt.Sprintf("the value of key %d from op %d.%d", i, ver>>4, ver&15)
		}
	}
	if len(v) < 16 {
		return fmt.Sprintf("a %d-byte value", len(v))
	}
	return fmt.Sprintf("%d bytes that are no value this soak wrote", len(v))
}

// describeVersion names an expected state.
func describeVersion(ver uint64) string {
	if ver == 0 {
		return "absent"
	}
	return fmt.Sprintf("op %d.%d", ver>>4, ver&15)
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
