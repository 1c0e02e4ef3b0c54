package main

import (
	"math/bits"
	"math/rand/v2"
)

// makeKey writes the key of index i into buf[:16]: the 16-digit decimal of
// 2i. Key order is index order; odd numbers (missingKey) fall between.
func makeKey(buf []byte, i uint64) []byte {
	return digits(buf, 2*i)
}

// missingKey is a key that no fill writes, just above key i.
func missingKey(buf []byte, i uint64) []byte {
	return digits(buf, 2*i+1)
}

func digits(buf []byte, x uint64) []byte {
	buf = buf[:keySize]
	for j := keySize - 1; j >= 0; j-- {
		buf[j] = byte('0' + x%10)
		x /= 10
	}
	return buf
}

// values hands out 100-byte values cut from a pool of chunks. Each chunk is
// valueRandom×100 random printable bytes repeated to 100 bytes, so a block
// compressor shrinks a value to about valueRandom of its size; successive
// values differ.
type values struct {
	pool []byte
	pos  int
}

func newValues(seed uint64, valueRandom float64) *values {
	const chunks = 1 << 13 // 800 KiB of distinct values
	r := rand.New(rand.NewPCG(seed, 0x76616c756573))
	pool := make([]byte, chunks*valueSize)
	fresh := max(1, int(valueRandom*valueSize+0.5))
	for c := range chunks {
		v := pool[c*valueSize : (c+1)*valueSize]
		for j := range fresh {
			v[j] = byte(' ' + r.IntN(95))
		}
		for j := fresh; j < valueSize; j++ {
			v[j] = v[j-fresh]
		}
	}
	return &values{pool: pool}
}

func (v *values) next() []byte {
	b := v.pool[v.pos : v.pos+valueSize]
	v.pos += valueSize
	if v.pos == len(v.pool) {
		v.pos = 0
	}
	return b
}

// permutation maps [0, n) onto itself in a pseudo-random order without
// storing it (so the fill's order costs no memory that would show in the
// worker's peak RSS): a four-round Feistel network over the smallest even
// power of two at or above n, walking cycles until the value falls in
// range.
type permutation struct {
	n        uint64
	halfBits uint
	mask     uint64
	keys     [4]uint64
}

func newPermutation(n uint64, seed uint64) *permutation {
	b := uint(bits.Len64(n - 1))
	if b < 2 {
		b = 2
	}
	b = (b + 1) / 2
	p := &permutation{n: n, halfBits: b, mask: 1<<b - 1}
	r := rand.New(rand.NewPCG(seed, 0x7065726d))
	for i := range p.keys {
		p.keys[i] = r.Uint64()
	}
	return p
}

func (p *permutation) at(i uint64) uint64 {
	x := i
	for {
		l, r := x>>p.halfBits, x&p.mask
		for _, k := range p.keys {
			l, r = r, l^(mix(r^k)&p.mask)
		}
		x = l<<p.halfBits | r
		if x < p.n {
			return x
		}
	}
}

// mix is a 64-bit finalizer (an avalanche of xor-shifts and multiplies).
func mix(x uint64) uint64 {
	x ^= x >> 31
	x *= 0x7fb5d329728ea185
	x ^= x >> 27
	x *= 0x81dadef4bc2dd44d
	x ^= x >> 33
	return x
}
