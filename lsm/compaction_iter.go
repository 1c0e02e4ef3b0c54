package lsm

import (
	"bytes"
	"sort"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
)

// CompactionIter filters a merged stream of internal keys for writing a new
// run: of the versions of one user key it keeps the newest in each snapshot
// stripe (the versions a reader at some snapshot, or at the newest state,
// could see) and drops the others. When the output is the bottommost data,
// a tombstone in the oldest stripe is dropped too: nothing older survives
// below it for it to hide.
//
// Stripes: with snapshots s1 < s2 < ... < sn, stripe 0 holds seqnums <= s1,
// stripe i holds (si, si+1], and stripe n holds everything newer than sn.
type CompactionIter struct {
	in         base.InternalIterator
	stored     base.StoredValuer // in, when it can hand out stored values
	snapshots  []base.SeqNum     // ascending
	bottommost bool
	// zeroUpTo makes Key report the SET entries of a bottommost output
	// with seqnums up to it at seqnum 0 (see ZeroSeqNums).
	zeroUpTo base.SeqNum

	started    bool
	curKey     []byte // user key of the current run of versions
	lastStripe int    // stripe of the last version kept for curKey
	valid      bool
	tombs      *rangedel.Set
}

// SetRangeDels gives the iterator the inputs' range tombstones: a point
// covered by a newer tombstone in the same snapshot stripe is dropped.
func (c *CompactionIter) SetRangeDels(s *rangedel.Set) { c.tombs = s }

// OutputRangeDels returns the tombstones the output must keep: in each
// fragment the newest seqnum of each stripe, minus, when the output is
// bottommost, those in the oldest stripe (nothing below them is left to
// delete).
func (c *CompactionIter) OutputRangeDels() []rangedel.Fragment {
	var out []rangedel.Fragment
	for _, f := range c.tombs.Fragments() {
		var seqs []base.SeqNum
		last := -1
		for _, seq := range f.Seqs { // newest first
			s := c.stripe(seq)
			if s == last {
				continue
			}
			last = s
			if c.bottommost && s == 0 {
				continue
			}
			seqs = append(seqs, seq)
		}
		if len(seqs) > 0 {
			out = append(out, rangedel.Fragment{Start: f.Start, End: f.End, Seqs: seqs})
		}
	}
	return out
}

// deletedByTombstone reports whether a tombstone newer than k in k's stripe
// covers it.
func (c *CompactionIter) deletedByTombstone(k base.InternalKey, stripe int) bool {
	if c.tombs.Empty() {
		return false
	}
	for _, t := range c.tombs.CoveringSeqs(k.UserKey) {
		if t <= k.SeqNum() {
			break
		}
		if c.stripe(t) == stripe {
			return true
		}
	}
	return false
}

// NewCompactionIter wraps in, which must yield entries in CompareInternal
// order. snapshots must be sorted ascending.
func NewCompactionIter(in base.InternalIterator, snapshots []base.SeqNum, bottommost bool) *CompactionIter {
	c := &CompactionIter{in: in, snapshots: snapshots, bottommost: bottommost}
	c.stored, _ = in.(base.StoredValuer)
	return c
}

func (c *CompactionIter) stripe(seq base.SeqNum) int {
	return sort.Search(len(c.snapshots), func(i int) bool { return c.snapshots[i] >= seq })
}

// Next moves to the next entry to write and reports whether there is one.
func (c *CompactionIter) Next() bool {
	var ok bool
	if !c.started {
		c.started = true
		ok = c.in.First()
	} else {
		ok = c.in.Next()
	}
	for ; ok; ok = c.in.Next() {
		k := c.in.Key()
		s := c.stripe(k.SeqNum())
		if c.curKey == nil || !bytes.Equal(k.UserKey, c.curKey) {
			c.curKey = append(c.curKey[:0], k.UserKey...)
			if c.curKey == nil {
				c.curKey = []byte{}
			}
		} else if s == c.lastStripe {
			// An older version in a stripe that already has its newest.
			continue
		}
		c.lastStripe = s
		if k.Kind() == base.KindDelete && c.bottommost && s == 0 {
			continue
		}
		if c.deletedByTombstone(k, s) {
			// Shadowed within its stripe: no reader can see it, and the
			// tombstone (or, when bottommost, nothing at all) stands for it.
			continue
		}
		c.valid = true
		return true
	}
	c.valid = false
	return false
}

// ZeroSeqNums makes a bottommost merge write every SET entry with a seqnum
// at or below bound at seqnum 0 (a one-byte trailer in compact SSTs). The
// caller passes the oldest seqnum any reader may still read at: the oldest
// snapshot, or the newest visible seqnum when there is none. Such an entry
// is then the only version of its key below that bound (older ones were
// dropped, nothing lies deeper), every reader sees it before and after,
// and every tombstone or version that could hide it is newer than it
// anyway, so its seqnum says nothing a reader needs. No-op unless the
// output is bottommost.
func (c *CompactionIter) ZeroSeqNums(bound base.SeqNum) {
	if c.bottommost && len(c.snapshots) > 0 {
		bound = min(bound, c.snapshots[0])
	}
	c.zeroUpTo = bound
}

// Key returns the current entry's key.
func (c *CompactionIter) Key() base.InternalKey {
	k := c.in.Key()
	if c.bottommost && k.SeqNum() <= c.zeroUpTo && k.Kind() == base.KindSet {
		k.Trailer = base.MakeTrailer(0, base.KindSet)
	}
	return k
}

// Value returns the current entry's value.
func (c *CompactionIter) Value() []byte { return c.in.Value() }

// StoredValue returns the current value as its file stores it, compressed,
// when the input can say (see base.StoredValuer); ok false otherwise.
func (c *CompactionIter) StoredValue() ([]byte, bool) {
	if c.stored == nil {
		return nil, false
	}
	return c.stored.StoredValue()
}

// Error returns the input's error.
func (c *CompactionIter) Error() error { return c.in.Error() }
