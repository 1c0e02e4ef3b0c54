package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/seed-d6fe07da/strata/db"
	"github.com/seed-d6fe07da/strata/vfs"
)

// raftStore is what raft asks of a log and stable store in one.
type raftStore interface {
	raft.LogStore
	raft.StableStore
}

func openStore(t testing.TB, dir string, opts *db.Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openBolt(t testing.TB, dir string) *raftboltdb.BoltStore {
	t.Helper()
	s, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func entry(index, term uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogCommand,
		Data:       fmt.Appendf(nil, "data-%d", index),
		Extensions: []byte{byte(index)},
		AppendedAt: time.Unix(1_700_000_000+int64(index), int64(index)),
	}
}

func entries(lo, hi, term uint64) []*raft.Log {
	var ls []*raft.Log
	for i := lo; i <= hi; i++ {
		ls = append(ls, entry(i, term))
	}
	return ls
}

func checkBounds(t *testing.T, s raft.LogStore, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("bounds %d-%d, want %d-%d", f, l, first, last)
	}
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

// testStoreSemantics runs the same steps against any store: it passes
// for raft-boltdb, the store raft is used with most, and for Store.
func testStoreSemantics(t *testing.T, s raftStore) {
	checkBounds(t, s, 0, 0)
	var got raft.Log
	if err := s.GetLog(1, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog on an empty log: %v, want raft.ErrLogNotFound", err)
	}
	if err := s.StoreLogs(entries(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(entry(11, 2)); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 1, 11)
	for i := uint64(1); i <= 11; i++ {
		want := entry(i, 1)
		if i == 11 {
			want = entry(i, 2)
		}
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if !sameLog(&got, want) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, want)
		}
	}
	// Truncate the front, as raft does after a snapshot.
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 5, 11)
	if err := s.GetLog(4, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(4) after truncation: %v", err)
	}
	// Truncate the back, as a follower does on a conflicting entry.
	if err := s.DeleteRange(9, 11); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 5, 8)
	// A hole in the middle leaves the bounds alone.
	if err := s.DeleteRange(6, 6); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 5, 8)
	if err := s.GetLog(6, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(6) in a hole: %v", err)
	}
	// A range past both ends empties the log.
	if err := s.DeleteRange(0, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 0, 0)
	if err := s.StoreLogs(entries(100, 102, 3)); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 100, 102)

	if _, err := s.Get([]byte("missing")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get(missing) = %v, want an error reading exactly \"not found\"", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64(missing) = %v, want an error reading exactly \"not found\"", err)
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get(k) = %q, %v", v, err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("GetUint64 = %d, %v", v, err)
	}
	// Stable keys and log entries do not see each other.
	checkBounds(t, s, 100, 102)
}

func TestStoreSemantics(t *testing.T) {
	t.Run("strata", func(t *testing.T) {
		s := openStore(t, t.TempDir(), nil)
		defer s.Close()
		testStoreSemantics(t, s)
	})
	t.Run("raft-boltdb", func(t *testing.T) {
		testStoreSemantics(t, openBolt(t, t.TempDir()))
	})
}

// TestStoreAgainstBolt applies the same random appends and truncations to
// Store and to raft-boltdb and compares every answer.
func TestStoreAgainstBolt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "strata"), &db.Options{MemtableSize: 64 << 10})
	defer s.Close()
	b := openBolt(t, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	next, term := uint64(1), uint64(1)
	apply := func(name string, f func(raft.LogStore) error) {
		errS, errB := f(s), f(b)
		if (errS == nil) != (errB == nil) {
			t.Fatalf("%s: strata %v, bolt %v", name, errS, errB)
		}
	}
	for step := range 400 {
		switch op := rng.IntN(10); {
		case op < 6: // append a batch
			n := uint64(1 + rng.IntN(20))
			ls := entries(next, next+n-1, term)
			apply("append", func(st raft.LogStore) error { return st.StoreLogs(ls) })
			next += n
		case op < 8: // truncate the front
			first, _ := b.FirstIndex()
			if first == 0 {
				continue
			}
			upTo := first + uint64(rng.IntN(int(next-first)))
			apply("truncate front", func(st raft.LogStore) error { return st.DeleteRange(first, upTo) })
		case op < 9: // truncate the back and rewrite with a new term
			last, _ := b.LastIndex()
			if last == 0 {
				continue
			}
			from := last - min(uint64(rng.IntN(5)), last-1)
			apply("truncate back", func(st raft.LogStore) error { return st.DeleteRange(from, last) })
			term++
			next = from
		default: // a range anywhere, past the ends too
			lo := uint64(rng.IntN(int(next + 5)))
			hi := lo + uint64(rng.IntN(30))
			apply("delete range", func(st raft.LogStore) error { return st.DeleteRange(lo, hi) })
		}
		fb, _ := b.FirstIndex()
		lb, _ := b.LastIndex()
		checkBounds(t, s, fb, lb)
		if step%50 == 0 || step == 399 {
			for i := uint64(0); i <= next+1; i++ {
				var ls, lb raft.Log
				errS, errB := s.GetLog(i, &ls), b.GetLog(i, &lb)
				if !errors.Is(errS, errB) && (errS == nil || errB == nil || errS.Error() != errB.Error()) {
					t.Fatalf("step %d GetLog(%d): strata %v, bolt %v", step, i, errS, errB)
				}
				if errS == nil && !sameLog(&ls, &lb) {
					t.Fatalf("step %d GetLog(%d): strata %+v, bolt %+v", step, i, ls, lb)
				}
			}
		}
	}
}

// TestStoreReopen checks the log, its bounds and the stable keys come
// back after Close and Open, and after further truncations that merges
// have had time to fold.
func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	opts := &db.Options{MemtableSize: 64 << 10}
	s := openStore(t, dir, opts)
	for i := uint64(1); i <= 2000; i += 100 {
		if err := s.StoreLogs(entries(i, i+99, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRange(1, 1500); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FirstIndex(); !errors.Is(err, db.ErrClosed) {
		t.Fatalf("FirstIndex after Close: %v", err)
	}
	s = openStore(t, dir, opts)
	defer s.Close()
	checkBounds(t, s, 1501, 2000)
	var got raft.Log
	for i := uint64(1490); i <= 2000; i++ {
		err := s.GetLog(i, &got)
		if i <= 1500 {
			if !errors.Is(err, raft.ErrLogNotFound) {
				t.Fatalf("GetLog(%d) = %v, want not found", i, err)
			}
			continue
		}
		if err != nil || !sameLog(&got, entry(i, 1)) {
			t.Fatalf("GetLog(%d) = %+v, %v", i, got, err)
		}
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 3 {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
}

// TestStorePowerCut cuts the power (an in-memory filesystem that keeps
// only what was synced) after every acknowledged write and checks that
// the write survived: StoreLogs, DeleteRange and Set are durable on
// return.
func TestStorePowerCut(t *testing.T) {
	fsys := vfs.NewMem()
	opts := &db.Options{FS: fsys, MemtableSize: 64 << 10}
	s := openStore(t, "raft", opts)
	defer s.Close()
	check := func(first, last, term uint64) {
		t.Helper()
		c, err := Open("raft", &db.Options{FS: fsys.CrashClone(), MemtableSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		checkBounds(t, c, first, last)
		var got raft.Log
		for _, i := range []uint64{first, last} {
			if err := c.GetLog(i, &got); err != nil || !sameLog(&got, entry(i, 1)) {
				t.Fatalf("after a power cut GetLog(%d) = %+v, %v", i, got, err)
			}
		}
		if v, err := c.GetUint64([]byte("CurrentTerm")); err != nil || v != term {
			t.Fatalf("after a power cut CurrentTerm = %d, %v, want %d", v, err, term)
		}
	}
	for i := uint64(1); i <= 50; i++ {
		if err := s.StoreLogs(entries(10*i-9, 10*i, 1)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUint64([]byte("CurrentTerm"), i); err != nil {
			t.Fatal(err)
		}
		first := uint64(1)
		if i%5 == 0 {
			if err := s.DeleteRange(1, 10*i-20); err != nil {
				t.Fatal(err)
			}
		}
		if i >= 5 {
			first = 10*(i/5*5) - 19
		}
		check(first, 10*i, i)
	}
}

func TestStoreClosed(t *testing.T) {
	s := openStore(t, t.TempDir(), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	for name, err := range map[string]error{
		"FirstIndex":  func() error { _, err := s.FirstIndex(); return err }(),
		"LastIndex":   func() error { _, err := s.LastIndex(); return err }(),
		"GetLog":      s.GetLog(1, &l),
		"StoreLog":    s.StoreLog(entry(1, 1)),
		"DeleteRange": s.DeleteRange(1, 2),
		"Set":         s.Set([]byte("k"), nil),
		"Get":         func() error { _, err := s.Get([]byte("k")); return err }(),
	} {
		if !errors.Is(err, db.ErrClosed) {
			t.Errorf("%s after Close: %v, want db.ErrClosed", name, err)
		}
	}
}

func TestLogEncodingRoundTrip(t *testing.T) {
	for _, l := range []*raft.Log{
		{},
		{Index: math.MaxUint64, Term: math.MaxUint64, Type: raft.LogConfiguration},
		entry(42, 7),
		{Index: 1, Term: 1, Data: bytes.Repeat([]byte{0xff}, 5000), AppendedAt: time.Unix(-5, 999_999_999)},
	} {
		var got raft.Log
		if err := decodeLog(appendLog(nil, l), &got); err != nil {
			t.Fatalf("%+v: %v", l, err)
		}
		if !sameLog(&got, l) {
			t.Fatalf("decoded %+v, want %+v", got, l)
		}
	}
	enc := appendLog(nil, entry(3, 1))
	for n := range len(enc) {
		var got raft.Log
		if err := decodeLog(enc[:n], &got); !errors.Is(err, errBadLog) {
			t.Fatalf("a prefix of %d bytes: %v", n, err)
		}
	}
}
