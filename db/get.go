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
	return d.getAt(rs, nil, key, base.SeqNum(d.visibleSeq.Load()))
}

// GetAppend appends the value stored for key to dst and returns the
// extended slice, or dst and ErrNotFound. It is Get for callers that reuse
// one buffer across lookups: with dst of enough capacity it allocates
// nothing for the value, which for values of kilobytes and more is most of
// what a Get of a cached value costs.
func (d *DB) GetAppend(dst, key []byte) ([]byte, error) {
	rs := d.loadReadState()
	if rs == nil {
		return dst, ErrClosed
	}
	defer rs.unref()
	return d.getAt(rs, dst, key, base.SeqNum(d.visibleSeq.Load()))
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
// hands the lookup to an iterator, which gathers the older versions. The
// value is appended to dst; with dst nil, an empty value is returned as a
// non-nil empty slice. Without a value, dst is returned as it was.
func (d *DB) getAt(rs *readState, dst, key []byte, seq base.SeqNum) ([]byte, error) {
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
				return dst, ErrNotFound
			}
			if kind == base.KindMerge {
				return d.getMerged(rs, dst, key, seq)
			}
			if dst == nil {
				dst = make([]byte, 0, len(v))
			}
			return append(dst, v...), nil
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
				return dst, d.readErr(err)
			}
			if t := e.rangeDels.MaxCovering(key, seq); t > tomb {
				tomb = t
			}
			g, err := e.r.Get(dst[len(dst):], key, seq)
			if err != nil {
				return dst, d.readErr(err)
			}
			if g.Found {
				if g.Kind == base.KindDelete || g.Seq < tomb {
					return dst, ErrNotFound
				}
				if g.Kind == base.KindMerge {
					return d.getMerged(rs, dst, key, seq)
				}
				return joinValue(dst, g.Value), nil
			}
		}
	}
	return dst, ErrNotFound
}

// joinValue returns dst followed by v, where v is what an SST's Get
// appended to dst[len(dst):]: in dst's array when it had room, or in an
// array of its own. An empty value is never nil.
func joinValue(dst, v []byte) []byte {
	n := len(dst)
	switch {
	case n == 0 && v == nil:
		return []byte{}
	case n == 0:
		return v
	case len(v) == 0:
		return dst
	case cap(dst) > n && &dst[:n+1][n] == &v[0]:
		return dst[:n+len(v)]
	default:
		return append(dst, v...)
	}
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
