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

// values hands out values of one size cut from a pool of chunks. As in
// db_bench (whose values are cut from pieces made by
// test::CompressibleString), every valuePiece bytes of a value are
// valueRandom×valuePiece random printable bytes followed by a repeat of
// them, so the repeats lie within a compressor's reach at every value size
// and a value compresses to about valueRandom of its size; successive
// values differ.
type values struct {
	pool []byte
	size int
}

// valuePiece is the span over which a value's random bytes repeat.
const valuePiece = 100

// valuePoolBytes bounds the pool, so that large values do not inflate
// every worker's memory; up to 1 KiB values the pool holds 8192 of them.
const valuePoolBytes = 8 << 20

func newValues(seed uint64, valueRandom float64, size int) *values {
	chunks := max(16, min(1<<13, valuePoolBytes/size))
	r := rand.New(rand.NewPCG(seed, 0x76616c756573))
	pool := make([]byte, chunks*size)
	fresh := max(1, int(valueRandom*valuePiece+0.5))
	for c := range chunks {
		v := pool[c*size : (c+1)*size]
		for j := range v {
			if j%valuePiece < fresh {
				v[j] = byte(' ' + r.IntN(95))
			} else {
				v[j] = v[j-fresh]
			}
		}
	}
	return &values{pool: pool, size: size}
}

// at returns value i: the pool's chunks in turn. It keeps no position, so
// goroutines may share one values.
func (v *values) at(i uint64) []byte {
	c := int(i % uint64(len(v.pool)/v.size))
	return v.pool[c*v.size : (c+1)*v.size]
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
