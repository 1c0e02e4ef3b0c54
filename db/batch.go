package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Batch encoding. A batch is also the payload of one WAL record, so this
// layout is part of the on-disk format and must not change without a format
// version bump:
//
//	+--------------+-------------+-----------+-----------+-----
//	| seq: u64 LE  | count: u32  | entry 1   | entry 2   | ...
//	+--------------+-------------+-----------+-----------+-----
//	entry = kind: u8 | uvarint len(key) | key | [uvarint len(value) | value]
//
// The value part is present for KindSet (the value), KindMerge (the
// operand) and KindRangeDelete (the exclusive end key; empty means no end,
// as a range with an empty end key is empty and never written), absent for
// KindDelete. Entry i gets seqnum seq+i.
// Example: a batch at seq 7 holding Put("a", "xy") is
// 07 00 00 00 00 00 00 00 | 01 00 00 00 | 01 01 61 02 78 79.
const batchHeaderLen = 12

// maxBatchSize bounds the encoded size of one batch (one WAL record).
const maxBatchSize = 1 << 30

// MaxValueSize is the largest value Strata stores.
const MaxValueSize = 256 << 20

// ErrBatchTooLarge is returned when a batch would exceed 1 GiB encoded.
var ErrBatchTooLarge = errors.New("strata: batch larger than 1 GiB")

// Batch is a set of writes applied atomically by DB.Write: after a crash
// either all of them are present or none. A Batch is not safe for concurrent
// use.
type Batch struct {
	data  []byte
	count uint32
	// userBytes counts the key and value bytes added.
	userBytes int
	// maxKey is the key-size limit of the database that made the batch
	// (0 for a zero Batch); DB.Write checks maxKeyLen, the longest key
	// added, against its own limit whoever made the batch.
	maxKey    int
	maxKeyLen int
	// merges is set once a merge operand is added: DB.Write refuses the
	// batch unless the database has a merge operator.
	merges bool
	err    error
	// writing is set while DB.Write commits the batch.
	writing atomic.Bool
	// w is the batch's writer (its place in the commit queue, if synced)
	// while DB.Write runs; it lives here so a write allocates nothing for
	// it.
	w writer
}

// NewBatch returns an empty batch for d.
func (d *DB) NewBatch() *Batch {
	return &Batch{maxKey: d.maxKeySize}
}

func (b *Batch) init() {
	if len(b.data) == 0 {
		b.data = make([]byte, batchHeaderLen, 256)
	}
}

func (b *Batch) add(kind base.Kind, key, value []byte, hasValue bool) error {
	if b.err != nil {
		return b.err
	}
	if b.maxKey > 0 && len(key) > b.maxKey {
		return fmt.Errorf("%w: key of %d bytes (limit %d)", ErrKeyTooLarge, len(key), b.maxKey)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes (limit %d)", ErrValueTooLarge, len(value), MaxValueSize)
	}
	b.init()
	if len(b.data)+len(key)+len(value)+21 > maxBatchSize {
		return ErrBatchTooLarge
	}
	b.data = append(b.data, byte(kind))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)))
	b.data = append(b.data, key...)
	if hasValue {
		b.data = binary.AppendUvarint(b.data, uint64(len(value)))
		b.data = append(b.data, value...)
	}
	b.count++
	b.merges = b.merges || kind == base.KindMerge
	b.userBytes += len(key) + len(value)
	b.maxKeyLen = max(b.maxKeyLen, len(key))
	if kind == base.KindRangeDelete {
		b.maxKeyLen = max(b.maxKeyLen, len(value))
	}
	return nil
}

// Put adds key=value to the batch. The batch copies both.
func (b *Batch) Put(key, value []byte) error { return b.add(base.KindSet, key, value, true) }

// Merge adds a merge operand for key to the batch: the database's
// Options.Merge folds it into the key's value when the key is read, and in
// merges of files. It is a blind write: nothing is read. The batch copies
// both. DB.Write fails with ErrNoMergeOperator if the database has none.
func (b *Batch) Merge(key, operand []byte) error {
	return b.add(base.KindMerge, key, operand, true)
}

// Delete adds a deletion of key to the batch.
func (b *Batch) Delete(key []byte) error { return b.add(base.KindDelete, key, nil, false) }

// DeleteRange adds a deletion of every key in [start, end) to the batch:
// one write, however many keys the range holds. A nil end is unbounded:
// every key at or after start. An empty range (start >= a non-nil end) is
// a no-op.
func (b *Batch) DeleteRange(start, end []byte) error {
	if b.maxKey > 0 && len(end) > b.maxKey {
		return fmt.Errorf("%w: key of %d bytes (limit %d)", ErrKeyTooLarge, len(end), b.maxKey)
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	return b.add(base.KindRangeDelete, start, end, true)
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return int(b.count) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	if len(b.data) > 0 {
		b.data = b.data[:batchHeaderLen]
	}
	b.count = 0
	b.userBytes = 0
	b.maxKeyLen = 0
	b.merges = false
	b.err = nil
}

// encoded returns the batch bytes with seq and count filled in.
func (b *Batch) encoded(seq base.SeqNum) []byte {
	b.init()
	binary.LittleEndian.PutUint64(b.data[0:8], uint64(seq))
	binary.LittleEndian.PutUint32(b.data[8:12], b.count)
	return b.data
}

// batchEntry is one decoded write.
type batchEntry struct {
	seq   base.SeqNum
	kind  base.Kind
	key   []byte
	value []byte
}

// decodeBatch calls fn for each entry of an encoded batch. Errors wrap
// base.ErrCorruption; it never panics on arbitrary bytes.
func decodeBatch(data []byte, fn func(batchEntry) error) error {
	if len(data) < batchHeaderLen {
		return fmt.Errorf("%w: batch of %d bytes shorter than its header", base.ErrCorruption, len(data))
	}
	first := base.SeqNum(binary.LittleEndian.Uint64(data[0:8]))
	count := binary.LittleEndian.Uint32(data[8:12])
	if first > base.MaxSeqNum || uint64(first)+uint64(count) > uint64(base.MaxSeqNum) {
		return fmt.Errorf("%w: batch seqnum %d out of range", base.ErrCorruption, first)
	}
	p := data[batchHeaderLen:]
	readBytes := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		b := p[k : k+int(n)]
		p = p[k+int(n):]
		return b, true
	}
	for i := uint32(0); i < count; i++ {
		if len(p) == 0 {
			return fmt.Errorf("%w: batch holds %d of %d entries", base.ErrCorruption, i, count)
		}
		e := batchEntry{seq: first + base.SeqNum(i), kind: base.Kind(p[0])}
		p = p[1:]
		var ok bool
		if e.key, ok = readBytes(); !ok {
			return fmt.Errorf("%w: batch entry %d: bad key length", base.ErrCorruption, i)
		}
		switch e.kind {
		case base.KindSet, base.KindMerge, base.KindRangeDelete:
			if e.value, ok = readBytes(); !ok {
				return fmt.Errorf("%w: batch entry %d: bad value length", base.ErrCorruption, i)
			}
		case base.KindDelete:
		default:
			return fmt.Errorf("%w: batch entry %d: unknown kind %d", base.ErrCorruption, i, e.kind)
		}
		if fn != nil {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last batch entry", base.ErrCorruption, len(p))
	}
	return nil
}
