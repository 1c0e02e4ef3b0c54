package db

import (
	"bytes"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
)

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
func (d *DB) getMerged(rs *readState, dst, key []byte, seq base.SeqNum) ([]byte, error) {
	rs.refs.Add(1) // the iterator's, dropped by its Close
	upper := append(append(make([]byte, 0, len(key)+1), key...), 0)
	it := d.newIterAt(rs, seq, &IterOptions{LowerBound: key, UpperBound: upper})
	found := it.SeekGE(key) && bytes.Equal(it.Key(), key)
	v := dst
	if found {
		if dst == nil {
			v = ownedCopy(it.Value())
		} else {
			v = append(dst, it.Value()...)
		}
	}
	if err := it.Close(); err != nil {
		return dst, err
	}
	if !found {
		return dst, ErrNotFound
	}
	return v, nil
}
