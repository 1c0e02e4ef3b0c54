package db

import (
	"slices"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Snapshot is a consistent, read-only view of the database as of the moment
// it was taken: later writes, flushes and merges do not change what it
// reads. Merges keep the versions an open snapshot can see, so close
// snapshots when done. A Snapshot is safe for concurrent use.
type Snapshot struct {
	d   *DB
	seq base.SeqNum
	// closed is guarded by d.mu.
	closed bool
}

// NewSnapshot returns a snapshot of the current state, or nil after Close.
func (d *DB) NewSnapshot() *Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	s := &Snapshot{d: d, seq: base.SeqNum(d.visibleSeq.Load())}
	d.snapshots = append(d.snapshots, s.seq)
	return s
}

// Get returns the value key had when the snapshot was taken.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rs := s.d.loadReadState()
	if rs == nil {
		return nil, ErrClosed
	}
	defer rs.unref()
	return s.d.getAt(rs, key, s.seq)
}

// Scan iterates over [start, end) as of the snapshot.
func (s *Snapshot) Scan(start, end []byte) *Iterator {
	return s.NewIter(&IterOptions{LowerBound: start, UpperBound: end})
}

// NewIter returns an iterator over the snapshot.
func (s *Snapshot) NewIter(o *IterOptions) *Iterator {
	if err := s.check(); err != nil {
		return &Iterator{err: err}
	}
	rs := s.d.loadReadState()
	if rs == nil {
		return &Iterator{err: ErrClosed}
	}
	return s.d.newIterAt(rs, s.seq, o)
}

func (s *Snapshot) check() error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.closed || s.d.closed {
		return ErrClosed
	}
	return nil
}

// Close releases the snapshot; merges may then drop the versions only it
// could see. Closing twice returns ErrClosed.
func (s *Snapshot) Close() error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if i := slices.Index(d.snapshots, s.seq); i >= 0 {
		d.snapshots = slices.Delete(d.snapshots, i, i+1)
	}
	return nil
}

// snapshotSeqsLocked returns the seqnums of open snapshots, ascending and
// without repeats. d.mu is held.
func (d *DB) snapshotSeqsLocked() []base.SeqNum {
	s := slices.Clone(d.snapshots)
	slices.Sort(s)
	return slices.Compact(s)
}
