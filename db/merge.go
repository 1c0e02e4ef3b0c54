package db

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// operands collects the merge operands of one key, newest first, copied
// into one buffer (the values they come from move on with their iterator).
type operands struct {
	buf   []byte
	spans [][2]int // [start, end) in buf, newest first
}

func (o *operands) reset() {
	o.buf = o.buf[:0]
	o.spans = o.spans[:0]
}

func (o *operands) add(v []byte) {
	start := len(o.buf)
	o.buf = append(o.buf, v...)
	o.spans = append(o.spans, [2]int{start, len(o.buf)})
}

// fold applies the operands, oldest first, to existing (nil: the key has
// no value; otherwise a buffer the operator may take over) with op.
func (o *operands) fold(op MergeOperator, key, existing []byte) ([]byte, error) {
	if op == nil {
		return nil, ErrNoMergeOperator
	}
	acc := existing
	for i := len(o.spans) - 1; i >= 0; i-- {
		s := o.spans[i]
		var err error
		if acc, err = op(key, acc, o.buf[s[0]:s[1]:s[1]]); err != nil {
			return nil, fmt.Errorf("strata: merge operator on key %q: %w", key, err)
		}
	}
	if acc == nil {
		acc = []byte{}
	}
	return acc, nil
}

// applyOperand applies one operand to existing (nil or a buffer the
// operator may take over).
func applyOperand(op MergeOperator, key, existing, operand []byte) ([]byte, error) {
	if op == nil {
		return nil, ErrNoMergeOperator
	}
	v, err := op(key, existing, operand)
	if err != nil {
		return nil, fmt.Errorf("strata: merge operator on key %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// ownedCopy returns a copy of v whose capacity is its length, so an
// operator appending to it cannot write into memory it does not own.
func ownedCopy(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// getMerged answers a Get whose newest version of key is a merge
// operand: an iterator over the same view collects the operands down to
// the value (or deletion) they apply to, and folds them.
func (d *DB) getMerged(rs *readState, key []byte, seq base.SeqNum) ([]byte, error) {
	rs.refs.Add(1) // the iterator's, dropped by its Close
	upper := append(append(make([]byte, 0, len(key)+1), key...), 0)
	it := d.newIterAt(rs, seq, &IterOptions{LowerBound: key, UpperBound: upper})
	found := it.SeekGE(key) && bytes.Equal(it.Key(), key)
	var v []byte
	if found {
		v = ownedCopy(it.Value())
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return v, nil
}
