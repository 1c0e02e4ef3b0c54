package lsm

import (
	"bytes"
	"errors"
	"fmt"
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
//
// Merge operands: when the newest version kept in a stripe is an operand,
// the operands under it in the stripe are folded into it with the merge
// operator (SetMergeOperator), down to the value, deletion or covering
// tombstone they apply to, which the result replaces as a SET. Without
// such a base in the stripe the fold stays an operand, unless the output
// is bottommost and the key has no older version: then nothing lies below
// and it is a SET. Without an operator every version under an operand is
// kept.
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

	// merge folds operands; nil keeps them all.
	merge func(key, existing, operand []byte) ([]byte, error)
	// pending is set when the input is already at the next entry to
	// consider (a fold read one entry past its operands); pendingOK is
	// what that move returned.
	pending, pendingOK bool
	// folded is set while the current entry is a fold: its kind, seqnum
	// and value replace the input's.
	folded   bool
	foldKind base.Kind
	foldSeq  base.SeqNum
	foldVal  []byte
	ops      Operands
	err      error
}

// ErrMergeOperator wraps the error of a merge operator that failed to fold
// operands in a compaction of files. Retrying cannot help: the operands stay
// as they are until the operator accepts them.
var ErrMergeOperator = errors.New("merge operator failed")

// SetMergeOperator gives the iterator the operator that folds merge
// operands (see the type's comment).
func (c *CompactionIter) SetMergeOperator(f func(key, existing, operand []byte) ([]byte, error)) {
	c.merge = f
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
	switch {
	case c.err != nil:
		c.valid = false
		return false
	case !c.started:
		c.started = true
		ok = c.in.First()
	case c.pending:
		ok = c.pendingOK
		c.pending = false
	default:
		ok = c.in.Next()
	}
	c.folded = false
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
		if k.Kind() == base.KindMerge {
			if c.merge == nil {
				// Keep the older versions too: a reader folds them.
				c.lastStripe = -1
			} else if !c.fold(k, s) {
				c.valid = false
				return false
			}
		}
		c.valid = true
		return true
	}
	c.valid = false
	return false
}

// fold gathers the operand the input is at, k in stripe s, with the older
// versions of its key in s, and makes the current entry their fold. It
// reports false after an error of the operator.
func (c *CompactionIter) fold(k base.InternalKey, s int) bool {
	c.foldSeq = k.SeqNum()
	c.ops.Reset()
	c.ops.Add(c.in.Value())
	var existing []byte
	based := false // a value, deletion or tombstone ends the operands
	ok := c.in.Next()
	for ; ok; ok = c.in.Next() {
		k2 := c.in.Key()
		if !bytes.Equal(k2.UserKey, c.curKey) || c.stripe(k2.SeqNum()) != s {
			break
		}
		if k2.Kind() == base.KindDelete || c.deletedByTombstone(k2, s) {
			based = true
			break
		}
		if k2.Kind() == base.KindSet {
			existing = append(make([]byte, 0, len(c.in.Value())), c.in.Value()...)
			based = true
			break
		}
		c.ops.Add(c.in.Value())
	}
	// With a base, the input is at it, which the fold replaces, and the
	// versions under it in s are skipped as older versions of the stripe;
	// without, the input is at the next entry to consider.
	if !based {
		c.pending, c.pendingOK = true, ok
	}
	keyEnded := !ok || !bytes.Equal(c.in.Key().UserKey, c.curKey)
	c.folded = true
	c.foldKind = base.KindMerge
	if based || (c.bottommost && keyEnded) {
		c.foldKind = base.KindSet
	}
	if c.foldKind == base.KindMerge && c.ops.len() == 1 {
		// One operand and nothing under it: keep it as it is.
		c.foldVal = append(c.foldVal[:0], c.ops.newest()...)
		return true
	}
	v, err := c.ops.Fold(c.merge, c.curKey, existing)
	if err != nil {
		c.err = fmt.Errorf("%w on key %q: %w", ErrMergeOperator, c.curKey, err)
		return false
	}
	c.foldVal = v
	return true
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
	if c.folded {
		seq := c.foldSeq
		if c.foldKind == base.KindSet && c.bottommost && seq <= c.zeroUpTo {
			seq = 0
		}
		return base.InternalKey{UserKey: c.curKey, Trailer: base.MakeTrailer(seq, c.foldKind)}
	}
	k := c.in.Key()
	if c.bottommost && k.SeqNum() <= c.zeroUpTo && k.Kind() == base.KindSet {
		k.Trailer = base.MakeTrailer(0, base.KindSet)
	}
	return k
}

// Value returns the current entry's value.
func (c *CompactionIter) Value() []byte {
	if c.folded {
		return c.foldVal
	}
	return c.in.Value()
}

// StoredValue returns the current value as its file stores it, compressed,
// when the input can say (see base.StoredValuer); ok false otherwise.
func (c *CompactionIter) StoredValue() ([]byte, bool) {
	if c.stored == nil || c.folded {
		return nil, false
	}
	return c.stored.StoredValue()
}

// Error returns the merge operator's error, or the input's.
func (c *CompactionIter) Error() error {
	if c.err != nil {
		return c.err
	}
	return c.in.Error()
}
