// Package rangedel turns overlapping range tombstones into fragments: sorted,
// non-overlapping key ranges, each with the seqnums of every tombstone that
// covers it. Reads ask "which is the newest tombstone covering key k that I
// can see?"; merges ask the same per snapshot stripe and write the
// fragments back out, clipped to each output file.
package rangedel

import (
	"bytes"
	"cmp"
	"slices"
	"sort"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Tombstone deletes every key in [Start, End) with a seqnum below Seq.
type Tombstone struct {
	Start, End []byte
	Seq        base.SeqNum
}

// Fragment is a key range [Start, End) and the seqnums of the tombstones
// covering all of it, newest first.
type Fragment struct {
	Start, End []byte
	Seqs       []base.SeqNum
}

// Fragments splits ts into non-overlapping fragments sorted by Start. Only
// tombstones with Seq <= readSeq are included. Empty tombstones (Start >=
// End) are ignored. The fragments alias the tombstones' key bytes.
//
// It sweeps the sorted bounds once, keeping the tombstones that cover the
// current one: O(n log n) plus the size of the output, so the thousands of
// disjoint tombstones that evicting consecutive time windows leaves cost
// little more than sorting them.
func Fragments(ts []Tombstone, readSeq base.SeqNum) []Fragment {
	bounds := make([][]byte, 0, 2*len(ts))
	live := make([]Tombstone, 0, len(ts))
	for _, t := range ts {
		if t.Seq <= readSeq && bytes.Compare(t.Start, t.End) < 0 {
			live = append(live, t)
			bounds = append(bounds, t.Start, t.End)
		}
	}
	if len(live) == 0 {
		return nil
	}
	slices.SortFunc(bounds, bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)
	slices.SortFunc(live, func(a, b Tombstone) int { return bytes.Compare(a.Start, b.Start) })
	out := make([]Fragment, 0, len(bounds)-1)
	var active []Tombstone // the tombstones with Start <= lo < End
	next := 0              // live[next:] start after lo
	// The fragments' seqnums share backing arrays: one allocation per
	// doubling instead of one per fragment. A full array is left to the
	// fragments already made; none is written again.
	var seqBuf []base.SeqNum
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		active = slices.DeleteFunc(active, func(t Tombstone) bool { return bytes.Compare(t.End, lo) <= 0 })
		for next < len(live) && bytes.Compare(live[next].Start, lo) <= 0 {
			active = append(active, live[next])
			next++
		}
		if len(active) == 0 {
			continue
		}
		// Every active tombstone covers all of [lo, hi): it starts at or
		// before lo and ends at a bound after lo, so at hi or later.
		if cap(seqBuf)-len(seqBuf) < len(active) {
			seqBuf = make([]base.SeqNum, 0, max(2*cap(seqBuf), 2*len(active), 64))
		}
		from := len(seqBuf)
		for _, t := range active {
			seqBuf = append(seqBuf, t.Seq)
		}
		seqs := seqBuf[from:]
		slices.SortFunc(seqs, func(a, b base.SeqNum) int { return cmp.Compare(b, a) })
		seqs = slices.Compact(seqs)
		seqBuf = seqBuf[:from+len(seqs)]
		out = append(out, Fragment{Start: lo, End: hi, Seqs: seqs[:len(seqs):len(seqs)]})
	}
	return out
}

// Set answers coverage queries over fragments.
type Set struct {
	frags []Fragment
}

// NewSet builds a set from tombstones visible at readSeq.
func NewSet(ts []Tombstone, readSeq base.SeqNum) *Set {
	return &Set{frags: Fragments(ts, readSeq)}
}

// NewSetFromFragments wraps already fragmented tombstones.
func NewSetFromFragments(frags []Fragment) *Set { return &Set{frags: frags} }

// Empty reports whether the set covers nothing.
func (s *Set) Empty() bool { return s == nil || len(s.frags) == 0 }

// Fragments returns the set's fragments.
func (s *Set) Fragments() []Fragment {
	if s == nil {
		return nil
	}
	return s.frags
}

// find returns the fragment holding key, or nil.
func (s *Set) find(key []byte) *Fragment {
	if s == nil {
		return nil
	}
	i := sort.Search(len(s.frags), func(i int) bool { return bytes.Compare(s.frags[i].End, key) > 0 })
	if i < len(s.frags) && bytes.Compare(s.frags[i].Start, key) <= 0 {
		return &s.frags[i]
	}
	return nil
}

// MaxCovering returns the newest seqnum <= readSeq of a tombstone covering
// key, or 0 if none does.
func (s *Set) MaxCovering(key []byte, readSeq base.SeqNum) base.SeqNum {
	seq, _, _ := s.Covering(key, readSeq)
	return seq
}

// Covering returns the newest seqnum <= readSeq of a tombstone covering
// key, or 0 if none does, and the fragment holding key: every key in
// [start, end) is covered at that seqnum too.
func (s *Set) Covering(key []byte, readSeq base.SeqNum) (seq base.SeqNum, start, end []byte) {
	f := s.find(key)
	if f == nil {
		return 0, nil, nil
	}
	for _, seq := range f.Seqs {
		if seq <= readSeq {
			return seq, f.Start, f.End
		}
	}
	return 0, nil, nil
}

// CoveringSeqs returns the seqnums of the tombstones covering key, newest
// first.
func (s *Set) CoveringSeqs(key []byte) []base.SeqNum {
	if f := s.find(key); f != nil {
		return f.Seqs
	}
	return nil
}

// Clip returns the parts of frags inside [lo, hi); nil bounds are open.
func Clip(frags []Fragment, lo, hi []byte) []Fragment {
	var out []Fragment
	for _, f := range frags {
		start, end := f.Start, f.End
		if lo != nil && bytes.Compare(start, lo) < 0 {
			start = lo
		}
		if hi != nil && bytes.Compare(end, hi) > 0 {
			end = hi
		}
		if bytes.Compare(start, end) < 0 {
			out = append(out, Fragment{Start: start, End: end, Seqs: f.Seqs})
		}
	}
	return out
}

// AppendTombstones appends the tombstones behind s's fragments to ts, one
// per fragment and seqnum, to be fragmented again with others.
func AppendTombstones(ts []Tombstone, s *Set) []Tombstone {
	for _, f := range s.Fragments() {
		for _, seq := range f.Seqs {
			ts = append(ts, Tombstone{Start: f.Start, End: f.End, Seq: seq})
		}
	}
	return ts
}
