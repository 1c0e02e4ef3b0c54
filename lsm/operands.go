package lsm

// Operands collects the merge operands of one key, newest first, copied
// into one buffer (the values they come from move on with their
// iterator), and folds them with a merge operator. Merges of files and
// the database's readers both use it.
type Operands struct {
	buf   []byte
	spans [][2]int // [start, end) in buf, newest first
}

// Reset forgets the operands, keeping the memory.
func (o *Operands) Reset() {
	o.buf = o.buf[:0]
	o.spans = o.spans[:0]
}

// Add appends v, the next older operand.
func (o *Operands) Add(v []byte) {
	start := len(o.buf)
	o.buf = append(o.buf, v...)
	o.spans = append(o.spans, [2]int{start, len(o.buf)})
}

// len returns the number of operands held.
func (o *Operands) len() int { return len(o.spans) }

// newest returns the newest operand; it aliases the buffer.
func (o *Operands) newest() []byte {
	s := o.spans[0]
	return o.buf[s[0]:s[1]:s[1]]
}

// Fold applies the operands, oldest first, to existing (nil: the key has
// no value; otherwise a buffer merge may take over) and returns the
// result, never nil. Each operand is passed clipped to its length, so an
// operator that appends to one cannot write into the next. merge's error
// is returned as it is.
func (o *Operands) Fold(merge func(key, existing, operand []byte) ([]byte, error), key, existing []byte) ([]byte, error) {
	acc := existing
	for i := len(o.spans) - 1; i >= 0; i-- {
		s := o.spans[i]
		var err error
		if acc, err = merge(key, acc, o.buf[s[0]:s[1]:s[1]]); err != nil {
			return nil, err
		}
	}
	if acc == nil {
		acc = []byte{}
	}
	return acc, nil
}
