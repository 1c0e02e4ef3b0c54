package db

import (
	"slices"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// Snapshot is a consistent, read-only view of the database as of the moment
// it was taken: later writes, flushes and compactions do not change what it
// reads. Compactions keep the versions an open snapshot can see, so close
// snapshots when done. A Snapshot is safe for concurrent use.
type Snapshot struct {
	d      *DB
	seq    base.SeqNum
	closed atomic.Bool
}

// NewSnapshot returns a snapshot of the current state, or nil after Close.
// It takes d.snapMu, never d.mu, so it does not wait behind a write or a
// background job.
func (d *DB) NewSnapshot() *Snapshot {
	if d.isClosed() {
		return nil
	}
	d.snapMu.Lock()
	defer d.snapMu.Unlock()
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
	return s.d.getAt(rs, nil, key, s.seq)
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
	if s.closed.Load() || s.d.isClosed() {
		return ErrClosed
	}
	return nil
}

// Close releases the snapshot; compactions may then drop the versions only it
// could see. Closing twice returns ErrClosed.
func (s *Snapshot) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	d := s.d
	d.snapMu.Lock()
	defer d.snapMu.Unlock()
	if i := slices.Index(d.snapshots, s.seq); i >= 0 {
		d.snapshots = slices.Delete(d.snapshots, i, i+1)
	}
	return nil
}

// readPoints returns what a compaction must keep readable: the seqnums of open
// snapshots, ascending and without repeats, and the oldest seqnum any
// reader starting now reads at. Both are read under d.snapMu, as
// NewSnapshot reads the visible seqnum and registers it, so a compaction never
// misses a snapshot taken below its oldestRead.
func (d *DB) readPoints() (snapshots []base.SeqNum, oldestRead base.SeqNum) {
	d.snapMu.Lock()
	defer d.snapMu.Unlock()
	s := slices.Clone(d.snapshots)
	slices.Sort(s)
	return slices.Compact(s), base.SeqNum(d.visibleSeq.Load())
}
