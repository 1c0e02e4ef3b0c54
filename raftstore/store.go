package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/seed-d6fe07da/strata/db"
)

// ErrKeyNotFound is returned by Store.Get and Store.GetUint64 for a key
// that was never set. Its text is exactly "not found" and it is returned
// unwrapped: hashicorp/raft recognises a missing current term by
// comparing err.Error() with that string (api.go, raft.go), as
// raft-boltdb's ErrKeyNotFound does.
var ErrKeyNotFound = errors.New("not found")

// Key prefixes of the store's database.
const (
	prefixLog    = 'l' // 'l' | big-endian uint64 index → encoded raft.Log
	prefixStable = 's' // 's' | key → value
)

// Default sizes of a Store's database when Options leave them zero.
const (
	// DefaultMemtableSize is a Store's memtable: the log is written once,
	// read mostly while it is still in the memtable, and truncated from
	// the front, so a small memtable keeps the WAL replayed at Open short.
	DefaultMemtableSize = 4 << 20
	// DefaultCacheSize is a Store's buffer pool: followers lagging behind
	// the memtable read recent entries from SSTs; older ones are sent in
	// a snapshot instead.
	DefaultCacheSize = 8 << 20
)

// Store is a raft.LogStore and raft.StableStore kept in one Strata
// database. It is safe for concurrent use.
type Store struct {
	d *db.DB

	// writeMu serialises StoreLogs and DeleteRange, so first and last
	// move in the order the writes were made.
	writeMu sync.Mutex
	// first and last are the lowest and highest stored log indexes, 0
	// when the log is empty. Written under writeMu after each write;
	// read without it.
	first, last atomic.Uint64
	// closed is set by Close: the index getters, which read no database,
	// fail after it as every other call does.
	closed atomic.Bool
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// Open opens (creating if needed) the Store in dir. opts configures the
// database as for db.Open (nil for defaults); whatever it says,
// SyncWrites is set, because raft needs every StoreLogs and Set durable
// when it returns. Zero MemtableSize and CacheSize take
// DefaultMemtableSize and DefaultCacheSize.
func Open(dir string, opts *db.Options) (*Store, error) {
	o := db.Options{}
	if opts != nil {
		o = *opts
	}
	o.SyncWrites = true
	if o.MemtableSize == 0 {
		o.MemtableSize = DefaultMemtableSize
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	d, err := db.Open(dir, &o)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open %s: %w", dir, err)
	}
	s := &Store{d: d}
	first, last, err := s.bounds()
	if err != nil {
		d.Close()
		return nil, err
	}
	s.first.Store(first)
	s.last.Store(last)
	return s, nil
}

// Close closes the database. Every other call fails after it.
func (s *Store) Close() error {
	s.closed.Store(true)
	if err := s.d.Close(); err != nil {
		return fmt.Errorf("raftstore: close: %w", err)
	}
	return nil
}

// logKey returns the key of the entry at index.
func logKey(index uint64) []byte {
	var k [9]byte
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], index)
	return k[:]
}

// logKeyIndex returns the index of a log key, false if k is not one.
func logKeyIndex(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != prefixLog {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// logEnd is the first key past every log key.
var logEnd = []byte{prefixLog + 1}

// FirstIndex returns the lowest index in the log, 0 if it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	return s.first.Load(), nil
}

// LastIndex returns the highest index in the log, 0 if it is empty.
func (s *Store) LastIndex() (uint64, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	return s.last.Load(), nil
}

// live reports db.ErrClosed once the Store is closed.
func (s *Store) live() error {
	if s.closed.Load() {
		return fmt.Errorf("raftstore: %w", db.ErrClosed)
	}
	return nil
}

// bounds finds the lowest and highest log index by seeking an iterator
// to each end of the log's key range (0, 0 when it is empty).
func (s *Store) bounds() (first, last uint64, err error) {
	first, err = s.seekFirst(logKey(0))
	if err != nil || first == 0 {
		return 0, 0, err
	}
	last, err = s.seekLast(logEnd)
	return first, last, err
}

// seekFirst returns the lowest log index whose key is at or above from,
// 0 if there is none.
func (s *Store) seekFirst(from []byte) (uint64, error) {
	it := s.d.NewIter(&db.IterOptions{LowerBound: from, UpperBound: logEnd})
	var idx uint64
	if it.First() {
		idx, _ = logKeyIndex(it.Key())
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("raftstore: seek first log entry: %w", err)
	}
	return idx, nil
}

// seekLast returns the highest log index whose key is below to, 0 if
// there is none.
func (s *Store) seekLast(to []byte) (uint64, error) {
	it := s.d.NewIter(&db.IterOptions{LowerBound: logKey(0), UpperBound: to})
	var idx uint64
	if it.Last() {
		idx, _ = logKeyIndex(it.Key())
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("raftstore: seek last log entry: %w", err)
	}
	return idx, nil
}

// GetLog reads the entry at index into log; raft.ErrLogNotFound if there
// is none.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	v, err := s.d.Get(logKey(index))
	if errors.Is(err, db.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raftstore: get log %d: %w", index, err)
	}
	if err := decodeLog(v, log); err != nil {
		return fmt.Errorf("raftstore: log %d: %w: %w", index, db.ErrCorruption, err)
	}
	if log.Index != index {
		return fmt.Errorf("raftstore: log %d: %w: %w: holds index %d", index, db.ErrCorruption, errBadLog, log.Index)
	}
	return nil
}

// StoreLog stores one entry, durably.
func (s *Store) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores entries in one atomic, synced batch: all of them are
// durable when it returns, or none is written.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	b := s.d.NewBatch()
	var buf []byte
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for _, l := range logs {
		buf = appendLog(buf[:0], l)
		if err := b.Put(logKey(l.Index), buf); err != nil {
			return fmt.Errorf("raftstore: store log %d: %w", l.Index, err)
		}
		lo, hi = min(lo, l.Index), max(hi, l.Index)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.d.Write(b); err != nil {
		return fmt.Errorf("raftstore: store logs %d-%d: %w", lo, hi, err)
	}
	if first := s.first.Load(); first == 0 || lo < first {
		s.first.Store(lo)
	}
	if hi > s.last.Load() {
		s.last.Store(hi)
	}
	return nil
}

// DeleteRange removes the entries from min to max inclusive with one
// range deletion of keys [l|be(min), l|be(max+1)).
func (s *Store) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	end := logEnd
	if max < math.MaxUint64 {
		end = logKey(max + 1)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.d.DeleteRange(logKey(min), end); err != nil {
		return fmt.Errorf("raftstore: delete logs %d-%d: %w", min, max, err)
	}
	// Seek from the range's edges, not from the log's ends: the iterator
	// steps over entries a range deletion covers one by one until merges
	// drop them, so a seek from the old first entry after a truncation
	// would walk every entry truncated since the last merge.
	first, last := s.first.Load(), s.last.Load()
	if first == 0 || max < first || min > last {
		return nil
	}
	if min <= first && max >= last {
		s.first.Store(0)
		s.last.Store(0)
		return nil
	}
	if min <= first {
		f, err := s.seekFirst(end)
		if err != nil {
			return err
		}
		s.first.Store(f)
	}
	if max >= last {
		l, err := s.seekLast(logKey(min))
		if err != nil {
			return err
		}
		s.last.Store(l)
	}
	return nil
}

// stableKey returns the database key of a stable-store key.
func stableKey(k []byte) []byte {
	return append([]byte{prefixStable}, k...)
}

// Set stores key = val durably.
func (s *Store) Set(key, val []byte) error {
	if err := s.d.Put(stableKey(key), val); err != nil {
		return fmt.Errorf("raftstore: set %q: %w", key, err)
	}
	return nil
}

// Get returns the value of key, or ErrKeyNotFound (unwrapped: see its
// comment) if it was never set.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, err := s.d.Get(stableKey(key))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftstore: get %q: %w", key, err)
	}
	return v, nil
}

// SetUint64 stores key = val as 8 big-endian bytes, durably.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the value SetUint64 stored at key, or ErrKeyNotFound.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftstore: get %q: %w: a uint64 of %d bytes", key, db.ErrCorruption, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
