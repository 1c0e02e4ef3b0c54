package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/vfs"
)

// dbMachine is a rapid state machine comparing a DB with a map oracle. It
// runs on an in-memory filesystem with SyncWrites, so a simulated crash
// (CrashClone: only synced bytes and directory entries survive) must lose
// nothing that was acknowledged.
type dbMachine struct {
	// snaps are open snapshots with a copy of the oracle when taken.
	snaps  []machineSnap
	fs     *vfs.MemFS
	opts   *Options
	d      *DB
	oracle map[string][]byte
	keys   *rapid.Generator[[]byte]
	vals   *rapid.Generator[[]byte]
	// counter is set when the merge operator is counterMerge, else it
	// is listAppendMerge.
	counter bool
	// ingests numbers the tables Ingest writes.
	ingests int
}

// counterMerge adds operands, 8-byte big-endian deltas, to a counter (a
// value of another length counts as 0).
func counterMerge(_, existing, operand []byte) ([]byte, error) {
	var n uint64
	if len(existing) == 8 {
		n = binary.BigEndian.Uint64(existing)
	}
	if len(operand) != 8 {
		return nil, fmt.Errorf("counter operand of %d bytes", len(operand))
	}
	return binary.BigEndian.AppendUint64(existing[:0], n+binary.BigEndian.Uint64(operand)), nil
}

// listAppendMerge appends each operand to the list, comma-separated.
func listAppendMerge(_, existing, operand []byte) ([]byte, error) {
	if existing == nil {
		return append([]byte{}, operand...), nil
	}
	return append(append(existing, ','), operand...), nil
}

func newDBMachine(t *rapid.T, policy mergePolicy) *dbMachine {
	m := &dbMachine{fs: vfs.NewMem(), oracle: map[string][]byte{}}
	m.opts = &Options{
		MemtableSize:        64 << 10,
		CacheSize:           64 << 10,
		PageSize:            1024,
		SyncWrites:          true,
		L0CompactionTrigger: 2,
		TargetFileSize:      32 << 10,
		SizeRatio:           policy.T,
		RunsPerLevel:        policy.K,
		RunsAtLastLevel:     policy.Z,
		FS:                  m.fs,
		maxManifestSize:     4 << 10, // rotate the manifest often
		Compression:         rapid.SampledFrom([]Compression{SnappyCompression, NoCompression}).Draw(t, "compression"),
		Merge:               listAppendMerge,
		WALWriteBehind:      rapid.Bool().Draw(t, "walWriteBehind"),
		// Reads fold the whole tree once writes have stopped this long:
		// tiny, so that a case's quick run of operations folds it often.
		quietAfter: rapid.SampledFrom([]time.Duration{time.Nanosecond, time.Millisecond}).Draw(t, "quietAfter"),
	}
	if m.counter = rapid.Bool().Draw(t, "counter"); m.counter {
		m.opts.Merge = counterMerge
	}
	d, err := Open("/db", m.opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m.d = d
	// Keys from a small alphabet including 0x00 and 0xff so versions of a
	// key pile up and boundary bytes are exercised.
	m.keys = rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 'a', 'b', 'c', 0xff}), 0, 6)
	m.vals = rapid.OneOf(
		rapid.SliceOfN(rapid.Byte(), 0, 40),
		rapid.SliceOfN(rapid.Byte(), 60, 3000), // the value stream at 1 KiB pages
		// Up to 4 pages and beyond, and now and then 1 MiB: random bytes
		// from a drawn seed, as drawing each byte would be slow.
		rapid.Custom(func(t *rapid.T) []byte {
			n := rapid.IntRange(1000, 4*1024+100).Draw(t, "large")
			if rapid.IntRange(0, 40).Draw(t, "huge") == 0 {
				n = 1 << 20
			}
			v := make([]byte, n)
			mrand.New(mrand.NewSource(rapid.Int64().Draw(t, "seed"))).Read(v)
			return v
		}),
		// Compressible: a short pattern repeated, stored inline or
		// overflowed once compressed.
		rapid.Custom(func(t *rapid.T) []byte {
			pat := rapid.SliceOfN(rapid.Byte(), 1, 12).Draw(t, "pattern")
			return bytes.Repeat(pat, rapid.IntRange(2, 600).Draw(t, "repeats"))
		}),
	)
	return m
}

func (m *dbMachine) Put(t *rapid.T) {
	k, v := m.keys.Draw(t, "key"), m.vals.Draw(t, "value")
	// Bulk the memtable so flushes and merges happen often.
	n := rapid.IntRange(1, 40).Draw(t, "copies")
	b := m.d.NewBatch()
	for i := 0; i < n; i++ {
		kk := append(append([]byte{}, k...), byte(i))
		if err := b.Put(kk, v); err != nil {
			t.Fatal(err)
		}
		m.oracle[string(kk)] = append([]byte{}, v...)
	}
	if err := m.d.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// Merge writes merge operands, to several keys and sometimes twice to
// one, in one batch; the oracle applies the operator at once.
func (m *dbMachine) Merge(t *rapid.T) {
	k := m.keys.Draw(t, "key")
	n := rapid.IntRange(1, 12).Draw(t, "keys")
	b := m.d.NewBatch()
	for i := 0; i < n; i++ {
		kk := append(append([]byte{}, k...), byte(i%4))
		var op []byte
		if m.counter {
			op = binary.BigEndian.AppendUint64(nil, uint64(rapid.Int64Range(-1000, 1000).Draw(t, "delta")))
		} else if rapid.IntRange(0, 9).Draw(t, "large") == 0 {
			op = m.vals.Draw(t, "operand")
		} else {
			op = rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "operand")
		}
		if err := b.Merge(kk, op); err != nil {
			t.Fatal(err)
		}
		var existing []byte
		if v, ok := m.oracle[string(kk)]; ok {
			existing = append([]byte{}, v...)
		}
		v, err := m.opts.Merge(kk, existing, op)
		if err != nil {
			t.Fatal(err)
		}
		m.oracle[string(kk)] = v
	}
	if err := m.d.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// Ingest writes a table of sorted keys, values and deletions and
// ingests it.
func (m *dbMachine) Ingest(t *rapid.T) {
	drawn := rapid.SliceOfN(m.keys, 1, 20).Draw(t, "keys")
	set := map[string]bool{}
	for _, k := range drawn {
		set[string(append(k, byte(rapid.IntRange(0, 3).Draw(t, "suffix"))))] = true
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m.ingests++
	path := fmt.Sprintf("/ext/%d.sst", m.ingests)
	m.fs.MkdirAll("/ext")
	w, err := NewTableWriter(path, &Options{FS: m.fs, PageSize: m.opts.PageSize, Compression: m.opts.Compression})
	if err != nil {
		t.Fatal(err)
	}
	updates := map[string][]byte{}
	for _, k := range keys {
		if rapid.IntRange(0, 4).Draw(t, "delete") == 0 {
			err = w.Delete([]byte(k))
			updates[k] = nil
		} else {
			v := m.vals.Draw(t, "value")
			err = w.Set([]byte(k), v)
			updates[k] = v
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.d.Ingest(path); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	for k, v := range updates {
		if v == nil {
			delete(m.oracle, k)
		} else {
			m.oracle[k] = v
		}
	}
}

func (m *dbMachine) Delete(t *rapid.T) {
	k := m.keys.Draw(t, "key")
	k = append(k, byte(rapid.IntRange(0, 3).Draw(t, "suffix")))
	if err := m.d.Delete(k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	delete(m.oracle, string(k))
}

type machineSnap struct {
	s      *Snapshot
	oracle map[string][]byte
}

// DeleteRange removes a random range, in a batch with a put sometimes.
func (m *dbMachine) DeleteRange(t *rapid.T) {
	lo, hi := m.keys.Draw(t, "lo"), m.keys.Draw(t, "hi")
	if rapid.IntRange(0, 4).Draw(t, "unbounded") == 0 {
		hi = nil // every key from lo on
	}
	b := m.d.NewBatch()
	if err := b.DeleteRange(lo, hi); err != nil {
		t.Fatal(err)
	}
	for k := range m.oracle {
		if k >= string(lo) && (hi == nil || k < string(hi)) {
			delete(m.oracle, k)
		}
	}
	if rapid.Bool().Draw(t, "withPut") {
		// A put in the same batch after the tombstone survives it.
		k := append(m.keys.Draw(t, "key"), 1)
		b.Put(k, []byte("after-range"))
		m.oracle[string(k)] = []byte("after-range")
	}
	if err := m.d.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// Snapshot takes a snapshot (at most 3 open) or closes the oldest.
func (m *dbMachine) Snapshot(t *rapid.T) {
	if len(m.snaps) >= 3 || (len(m.snaps) > 0 && rapid.Bool().Draw(t, "close")) {
		if err := m.snaps[0].s.Close(); err != nil {
			t.Fatal(err)
		}
		m.snaps = m.snaps[1:]
		return
	}
	cp := make(map[string][]byte, len(m.oracle))
	for k, v := range m.oracle {
		cp[k] = v
	}
	m.snaps = append(m.snaps, machineSnap{s: m.d.NewSnapshot(), oracle: cp})
}

// SnapshotRead checks a Get and a full scan of an open snapshot against the
// oracle copied when it was taken.
func (m *dbMachine) SnapshotRead(t *rapid.T) {
	if len(m.snaps) == 0 {
		t.Skip("no snapshot")
	}
	sn := m.snaps[rapid.IntRange(0, len(m.snaps)-1).Draw(t, "snap")]
	k := append(m.keys.Draw(t, "key"), byte(rapid.IntRange(0, 3).Draw(t, "suffix")))
	v, err := sn.s.Get(k)
	if want, ok := sn.oracle[string(k)]; ok {
		if err != nil || !bytes.Equal(v, want) {
			t.Fatalf("snapshot Get(%q) = %d bytes, %v; want %d bytes", k, len(v), err, len(want))
		}
	} else if !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot Get(%q): want ErrNotFound, got %v", k, err)
	}
	it := sn.s.NewIter(nil)
	n := 0
	for it.Next() {
		want, ok := sn.oracle[string(it.Key())]
		if !ok || !bytes.Equal(want, it.Value()) {
			t.Fatalf("snapshot scan: unexpected %q", it.Key())
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != len(sn.oracle) {
		t.Fatalf("snapshot scan: %d keys, want %d", n, len(sn.oracle))
	}
}

func (m *dbMachine) closeSnaps() {
	for _, sn := range m.snaps {
		sn.s.Close()
	}
	m.snaps = nil
}

func (m *dbMachine) Get(t *rapid.T) {
	k := m.keys.Draw(t, "key")
	k = append(k, byte(rapid.IntRange(0, 3).Draw(t, "suffix")))
	var v []byte
	var err error
	if prefix := rapid.SliceOfN(rapid.Byte(), 0, 3).Draw(t, "appendTo"); len(prefix) > 0 {
		// GetAppend into a buffer holding prefix (and spare room, if drawn).
		buf := append(make([]byte, 0, len(prefix)+rapid.IntRange(0, 2*m.opts.PageSize).Draw(t, "room")), prefix...)
		v, err = m.d.GetAppend(buf, k)
		if !bytes.HasPrefix(v, prefix) {
			t.Fatalf("GetAppend(%q) lost the caller's bytes: %q", k, v[:min(len(v), len(prefix))])
		}
		v = v[len(prefix):]
	} else {
		v, err = m.d.Get(k)
	}
	want, ok := m.oracle[string(k)]
	if !ok {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q): want ErrNotFound, got %q, %v", k, v, err)
		}
		return
	}
	if err != nil || !bytes.Equal(v, want) {
		t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes", k, len(v), err, len(want))
	}
}

func (m *dbMachine) sortedRange(lo, hi []byte) []string {
	var ks []string
	for k := range m.oracle {
		if (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi)) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (m *dbMachine) Scan(t *rapid.T) {
	var lo, hi []byte
	if rapid.Bool().Draw(t, "hasLo") {
		lo = m.keys.Draw(t, "lo")
	}
	if rapid.Bool().Draw(t, "hasHi") {
		hi = m.keys.Draw(t, "hi")
	}
	want := m.sortedRange(lo, hi)
	it := m.d.Scan(lo, hi)
	var got []string
	reverse := rapid.Bool().Draw(t, "reverse")
	if reverse {
		for ok := it.Last(); ok; ok = it.Prev() {
			got = append(got, string(it.Key()))
			if !bytes.Equal(it.Value(), m.oracle[string(it.Key())]) {
				t.Fatalf("reverse scan: value of %q differs", it.Key())
			}
		}
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
	} else {
		for it.Next() {
			got = append(got, string(it.Key()))
			if !bytes.Equal(it.Value(), m.oracle[string(it.Key())]) {
				t.Fatalf("scan: value of %q differs", it.Key())
			}
		}
	}
	if err := it.Close(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("scan [%q, %q) reverse=%v: got %d keys %q, want %d %q", lo, hi, reverse, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("scan [%q, %q): key %d = %q, want %q", lo, hi, i, got[i], want[i])
		}
	}
}

// Seek checks SeekGE and SeekLT followed by a few steps both ways.
func (m *dbMachine) Seek(t *rapid.T) {
	all := m.sortedRange(nil, nil)
	k := m.keys.Draw(t, "seek")
	it := m.d.NewIter(nil)
	defer it.Close()
	pos := sort.SearchStrings(all, string(k)) // first >= k
	if rapid.Bool().Draw(t, "lt") {
		it.SeekLT(k)
		pos--
	} else {
		it.SeekGE(k)
	}
	steps := rapid.SliceOfN(rapid.Bool(), 0, 6).Draw(t, "steps")
	for i := 0; ; i++ {
		if pos < 0 || pos >= len(all) {
			if it.Valid() {
				t.Fatalf("iterator at %q, want exhausted (pos %d)", it.Key(), pos)
			}
			break
		}
		if !it.Valid() || string(it.Key()) != all[pos] {
			t.Fatalf("iterator valid=%v at %q, want %q (err %v)", it.Valid(), it.Key(), all[pos], it.Err())
		}
		if i == len(steps) {
			break
		}
		if steps[i] {
			it.Next()
			pos++
		} else {
			it.Prev()
			pos--
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
}

func (m *dbMachine) Flush(t *rapid.T) {
	if err := m.d.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func (m *dbMachine) Reopen(t *rapid.T) {
	m.closeSnaps()
	if err := m.d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	d, err := Open("/db", m.opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	m.d = d
	m.checkFiles(t)
}

// checkFiles runs DB.Check.
func (m *dbMachine) checkFiles(t *rapid.T) {
	if _, err := m.d.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// Crash cuts the power on a disk that wrote back a random subset of the
// unsynced pages, and reopens.
func (m *dbMachine) Crash(t *rapid.T) {
	seed := rapid.Int64().Draw(t, "crashSeed")
	clone := m.fs.CrashClonePages(func(name string, page int) bool {
		return (seed>>(uint(page)%64))&1 == 1
	})
	m.closeSnaps()
	m.d.Close()
	m.fs = clone
	m.opts.FS = clone
	d, err := Open("/db", m.opts)
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	m.d = d
	m.checkFiles(t)
}

func (m *dbMachine) Check(t *rapid.T) {}

// mergePolicy is a Dostoevsky setting: size ratio T, K runs per level, Z
// runs at the last level.
type mergePolicy struct {
	name    string
	T, K, Z int
}

var mergePolicies = []mergePolicy{
	{"leveling", 3, 1, 1},
	{"tiering", 3, 2, 2},
	{"lazy-leveling", 3, 2, 1},
}

func TestDBStateMachine(t *testing.T) {
	for _, p := range mergePolicies {
		t.Run(p.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				m := newDBMachine(t, p)
				defer func() { m.closeSnaps(); m.d.Close() }()
				t.Repeat(rapid.StateMachineActions(m))
				m.checkFiles(t)
			})
		})
	}
}

// Compact merges a random range (or everything) into the last level.
func (m *dbMachine) Compact(t *rapid.T) {
	var lo, hi []byte
	if rapid.Bool().Draw(t, "ranged") {
		lo, hi = m.keys.Draw(t, "lo"), m.keys.Draw(t, "hi")
	}
	if err := m.d.Compact(lo, hi); err != nil {
		t.Fatalf("Compact: %v", err)
	}
}
