package db

import "iter"

// Range returns the keys in [start, end) and their values in key order,
// for a range-over-func loop; nil bounds are unbounded. The slices are
// valid for one iteration of the loop body: copy them to keep them. The
// loop reads a consistent view taken when it starts; leaving it early
// (break) releases the view. If the scan fails, the loop ends early and
// *errp holds the error; errp may be nil to ignore it (not recommended).
//
//	var err error
//	for k, v := range d.Range(start, end, &err) {
//		use(k, v)
//	}
//	if err != nil { ... }
func (d *DB) Range(start, end []byte, errp *error) iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		it := d.Scan(start, end)
		for it.Next() {
			if !yield(it.Key(), it.Value()) {
				break
			}
		}
		if err := it.Close(); err != nil && errp != nil {
			*errp = err
		}
	}
}

// All returns the iterator's entries from its current position on (from
// the first, if it is not positioned), for a range-over-func loop. The
// slices are valid for one iteration of the loop body. The iterator stays
// open: close it after the loop, and its Close reports any error that
// ended the loop early.
//
//	it := d.Scan(start, end)
//	for k, v := range it.All() { use(k, v) }
//	if err := it.Close(); err != nil { ... }
func (it *Iterator) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		ok := it.Valid()
		if !ok {
			ok = it.Next()
		}
		for ; ok; ok = it.Next() {
			if !yield(it.Key(), it.Value()) {
				return
			}
		}
	}
}
