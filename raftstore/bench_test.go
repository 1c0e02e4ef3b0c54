package raftstore

import (
	"io"
	"testing"

	raftbench "github.com/hashicorp/raft/bench"

	"github.com/hashicorp/raft"
)

// benchStore is a store under benchmark and how to close it.
type benchStore interface {
	raftStore
	io.Closer
}

// BenchmarkRaftStore runs hashicorp/raft's own store benchmarks (package
// github.com/hashicorp/raft/bench) against Store and raft-boltdb v2,
// alternating the two per operation so both see the same machine. Each
// run opens a new store in a new directory: Store with its defaults
// (DefaultMemtableSize, DefaultCacheSize, synced writes), raft-boltdb with
// its own (fsync on every commit).
//
//	go test -run '^$' -bench RaftStore -count 3
func BenchmarkRaftStore(b *testing.B) {
	engines := []struct {
		name string
		open func(b *testing.B) benchStore
	}{
		{"strata", func(b *testing.B) benchStore { return openStore(b, b.TempDir(), nil) }},
		{"boltdb", func(b *testing.B) benchStore { return openBolt(b, b.TempDir()) }},
	}
	logOps := []struct {
		name string
		fn   func(*testing.B, raft.LogStore)
	}{
		{"FirstIndex", raftbench.FirstIndex},
		{"LastIndex", raftbench.LastIndex},
		{"GetLog", raftbench.GetLog},
		{"StoreLog", raftbench.StoreLog},
		{"StoreLogs", raftbench.StoreLogs},
		{"DeleteRange", raftbench.DeleteRange},
	}
	stableOps := []struct {
		name string
		fn   func(*testing.B, raft.StableStore)
	}{
		{"Set", raftbench.Set},
		{"Get", raftbench.Get},
		{"SetUint64", raftbench.SetUint64},
		{"GetUint64", raftbench.GetUint64},
	}
	run := func(op string, fn func(*testing.B, benchStore)) {
		for _, e := range engines {
			b.Run(op+"/"+e.name, func(b *testing.B) {
				s := e.open(b)
				b.ResetTimer()
				fn(b, s)
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
	for _, op := range logOps {
		run(op.name, func(b *testing.B, s benchStore) { op.fn(b, s) })
	}
	for _, op := range stableOps {
		run(op.name, func(b *testing.B, s benchStore) { op.fn(b, s) })
	}
}

// BenchmarkFirstIndexAfterTruncation measures why Store keeps its first
// index in memory: after 9,000 of 10,000 entries are range-deleted (as
// raft truncates its log after a snapshot), a seek from the front of the
// log's key range steps over every covered entry still in the memtable or
// tables, while a seek from the edge of the deleted range, which is what
// DeleteRange does to update the cached index, does not.
func BenchmarkFirstIndexAfterTruncation(b *testing.B) {
	s := openStore(b, b.TempDir(), nil)
	defer s.Close()
	for i := uint64(1); i <= 10000; i += 100 {
		if err := s.StoreLogs(entries(i, i+99, 1)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.DeleteRange(1, 9000); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		from []byte
	}{{"seek-from-log-start", logKey(0)}, {"seek-from-range-end", logKey(9001)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if first, err := s.seekFirst(c.from); err != nil || first != 9001 {
					b.Fatalf("first %d, %v", first, err)
				}
			}
		})
	}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if first, err := s.FirstIndex(); err != nil || first != 9001 {
				b.Fatalf("first %d, %v", first, err)
			}
		}
	})
}

// BenchmarkIndexSeek measures the iterator seeks Open (and a truncation)
// use to find the first and last index, on the nine entries of
// raftbench.FirstIndex: the cost FirstIndex and LastIndex would have if
// Store read them from the database as raft-boltdb does.
func BenchmarkIndexSeek(b *testing.B) {
	s := openStore(b, b.TempDir(), nil)
	defer s.Close()
	if err := s.StoreLogs(entries(1, 9, 1)); err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if first, err := s.seekFirst(logKey(0)); err != nil || first != 1 {
				b.Fatalf("first %d, %v", first, err)
			}
		}
	})
	b.Run("last", func(b *testing.B) {
		for b.Loop() {
			if last, err := s.seekLast(logEnd); err != nil || last != 9 {
				b.Fatalf("last %d, %v", last, err)
			}
		}
	})
}
