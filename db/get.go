package db

import (
	"github.com/seed-d6fe07da/strata/internal/base"
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

// getAt looks key up as of seq: memtables newest first, then every run
// from level 0 down, stopping at the first version found. A run is searched
// only if its file range holds the key; the SST consults its Bloom filter
// before it descends its B+Tree.
func (d *DB) getAt(rs *readState, key []byte, seq base.SeqNum) ([]byte, error) {
	if v, kind, _, ok := rs.mem.Get(key, seq); ok {
		return found(v, kind)
	}
	for _, m := range rs.imms {
		if v, kind, _, ok := m.Get(key, seq); ok {
			return found(v, kind)
		}
	}
	for level := range rs.v.Levels {
		for _, r := range rs.v.Levels[level] {
			f := r.Find(key)
			if f == nil || f.SmallestSeq > seq {
				continue
			}
			t, err := d.tables.get(f.FileNum)
			if err != nil {
				return nil, err
			}
			v, kind, _, ok, err := t.Get(nil, key, seq)
			if err != nil {
				return nil, err
			}
			if ok {
				if kind == base.KindDelete {
					return nil, ErrNotFound
				}
				if v == nil {
					v = []byte{}
				}
				return v, nil
			}
		}
	}
	return nil, ErrNotFound
}

func found(v []byte, kind base.Kind) ([]byte, error) {
	if kind == base.KindDelete {
		return nil, ErrNotFound
	}
	return append(make([]byte, 0, len(v)), v...), nil
}
