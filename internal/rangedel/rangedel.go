// Package rangedel turns overlapping range tombstones into fragments: sorted,
// non-overlapping key ranges, each with the seqnums of every tombstone that
// covers it. Reads ask "which is the newest tombstone covering key k that I
// can see?"; merges ask the same per snapshot stripe and write the
// fragments back out, clipped to each output file.
package rangedel

import (
	"bytes"
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
func Fragments(ts []Tombstone, readSeq base.SeqNum) []Fragment {
	var bounds [][]byte
	live := ts[:0:0]
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
	sort.Slice(live, func(i, j int) bool { return bytes.Compare(live[i].Start, live[j].Start) < 0 })
	var out []Fragment
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		var seqs []base.SeqNum
		for _, t := range live {
			if bytes.Compare(t.Start, lo) > 0 {
				break
			}
			if bytes.Compare(t.End, hi) >= 0 {
				seqs = append(seqs, t.Seq)
			}
		}
		if len(seqs) == 0 {
			continue
		}
		slices.SortFunc(seqs, func(a, b base.SeqNum) int {
			switch {
			case a > b:
				return -1
			case a < b:
				return 1
			}
			return 0
		})
		seqs = slices.Compact(seqs)
		out = append(out, Fragment{Start: lo, End: hi, Seqs: seqs})
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
	f := s.find(key)
	if f == nil {
		return 0
	}
	for _, seq := range f.Seqs {
		if seq <= readSeq {
			return seq
		}
	}
	return 0
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
