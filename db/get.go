package db

import (
	"errors"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/memtable"
)

// Get returns a copy of the value stored for key, or ErrNotFound. The caller
// owns the returned slice.
func (d *DB) Get(key []byte) ([]byte, error) {
	rs := d.loadReadState()
	if rs == nil {
		return nil, ErrClosed
	}
	defer rs.unref()
	return d.getAt(rs, key, base.SeqNum(d.visibleSeq.Load()))
}

// memCovering returns the newest seqnum <= seq of a range tombstone in m
// covering key, or 0.
func memCovering(m *memtable.Memtable, key []byte, seq base.SeqNum) base.SeqNum {
	if !m.HasRangeDels() {
		return 0
	}
	return m.RangeDelSet().MaxCovering(key, seq)
}

// getAt looks key up as of seq: memtables newest first, then every run
// from level 0 down, stopping at the first version found. A run is searched
// only if a file's range holds the key; the SST consults its Bloom filter
// before it descends its B+Tree. Range tombstones seen on the way (in the
// sources searched so far and in the one that holds the version) delete
// the version when they are newer than it. A merge operand found first
// hands the lookup to an iterator, which gathers the older versions.
func (d *DB) getAt(rs *readState, key []byte, seq base.SeqNum) ([]byte, error) {
	var tomb base.SeqNum // newest covering tombstone seen so far
	for i := -1; i < len(rs.imms); i++ {
		m := rs.mem
		if i >= 0 {
			m = rs.imms[i]
		}
		if t := memCovering(m, key, seq); t > tomb {
			tomb = t
		}
		if v, kind, s, ok := m.Get(key, seq); ok {
			if kind == base.KindDelete || s < tomb {
				return nil, ErrNotFound
			}
			if kind == base.KindMerge {
				return d.getMerged(rs, key, seq)
			}
			return append(make([]byte, 0, len(v)), v...), nil
		}
	}
	if (rs.excess > 0 || rs.levels > 0) && rs.gets.Add(1)%getsPerPositioning == 0 {
		d.noteReadRuns(rs.excess, rs.levels)
	}
	for level := range rs.v.Levels {
		for _, r := range rs.v.Levels[level] {
			f := r.Find(key)
			if f == nil || f.SmallestSeq > seq {
				continue
			}
			if tomb > 0 && f.LargestSeq < tomb {
				// Everything in f is older than a tombstone covering key.
				continue
			}
			e, err := d.tables.fileEntry(f)
			if err != nil {
				return nil, d.readErr(err)
			}
			if t := e.rangeDels.MaxCovering(key, seq); t > tomb {
				tomb = t
			}
			g, err := e.r.Get(nil, key, seq)
			if err != nil {
				return nil, d.readErr(err)
			}
			if g.Found {
				if g.Kind == base.KindDelete || g.Seq < tomb {
					return nil, ErrNotFound
				}
				if g.Kind == base.KindMerge {
					return d.getMerged(rs, key, seq)
				}
				if g.Value == nil {
					return []byte{}, nil
				}
				return g.Value, nil
			}
		}
	}
	return nil, ErrNotFound
}

// readErr returns err as a read met it, wrapping ErrClosed too when Close
// has begun: a read racing Close may find its file or the buffer pool
// closed under it, and the caller should see why.
func (d *DB) readErr(err error) error {
	if err != nil && d.closing.Load() && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
