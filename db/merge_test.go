package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/vfs"
)

func counterOperand(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// counterValue reads key's counter, failing t on an error.
func counterValue(t testing.TB, get func([]byte) ([]byte, error), key string) int64 {
	t.Helper()
	v, err := get([]byte(key))
	if errors.Is(err, ErrNotFound) {
		return 0
	}
	if err != nil || len(v) != 8 {
		t.Fatalf("counter %s: %x, %v", key, v, err)
	}
	return int64(binary.BigEndian.Uint64(v))
}

// TestMergeCounters adds to counters across flushes, merges of files, a
// reopen and snapshots, and checks Get, forward and backward iteration
// against sums kept beside.
func TestMergeCounters(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = counterMerge
	d := mustOpen(t, "/db", o)
	rng := rand.New(rand.NewSource(1))
	const keys = 50
	sums := make(map[string]int64)
	var snap *Snapshot
	var snapSums map[string]int64
	for i := range 20000 {
		k := fmt.Sprintf("c%03d", rng.Intn(keys))
		delta := int64(rng.Intn(100) - 30)
		if err := d.Merge([]byte(k), counterOperand(delta)); err != nil {
			t.Fatal(err)
		}
		sums[k] += delta
		switch i {
		case 5000:
			snap = d.NewSnapshot()
			snapSums = make(map[string]int64)
			for k, v := range sums {
				snapSums[k] = v
			}
		case 9000:
			d.Put([]byte("c007"), counterOperand(1000)) // a value the operands then apply to
			sums["c007"] = 1000
		case 12000:
			if err := d.Compact(nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(what string, d *DB) {
		t.Helper()
		for k, want := range sums {
			if got := counterValue(t, d.Get, k); got != want {
				t.Fatalf("%s: Get %s = %d, want %d", what, k, got, want)
			}
		}
		it := d.Scan(nil, nil)
		n := 0
		for ok := it.Last(); ok; ok = it.Prev() {
			if got := int64(binary.BigEndian.Uint64(it.Value())); got != sums[string(it.Key())] {
				t.Fatalf("%s: backward %s = %d, want %d", what, it.Key(), got, sums[string(it.Key())])
			}
			n++
		}
		if err := it.Close(); err != nil || n != len(sums) {
			t.Fatalf("%s: backward scan saw %d of %d keys, %v", what, n, len(sums), err)
		}
	}
	check("before reopen", d)
	for k, want := range snapSums {
		if got := counterValue(t, snap.Get, k); got != want {
			t.Fatalf("snapshot: %s = %d, want %d", k, got, want)
		}
	}
	snap.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, "/db", o)
	check("after reopen", d)
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	check("after a full merge", d)
	d.Close()
}

// TestMergeAfterDeletes: operands after a deletion or a range deletion
// start from nothing; operands before them are gone.
func TestMergeAfterDeletes(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = listAppendMerge
	d := mustOpen(t, "/db", o)
	d.Merge([]byte("a"), []byte("1"))
	d.Merge([]byte("a"), []byte("2"))
	d.Delete([]byte("a"))
	d.Merge([]byte("a"), []byte("3"))
	d.Merge([]byte("b"), []byte("1"))
	d.Flush()
	d.DeleteRange([]byte("b"), []byte("c"))
	d.Merge([]byte("b"), []byte("2"))
	d.Put([]byte("c"), []byte("x"))
	d.Merge([]byte("c"), []byte("y"))
	// A range deletion between two operands of a key, with both in one
	// table (d, e) or in the memtable (f), and a newer operand above the
	// table (e).
	for _, k := range []string{"d", "e", "f"} {
		if k == "f" {
			d.Flush()
			d.Merge([]byte("e"), []byte("3"))
		}
		d.Merge([]byte(k), []byte("1"))
		d.DeleteRange([]byte(k), []byte(k+"\x00"))
		d.Merge([]byte(k), []byte("2"))
	}
	for _, phase := range []string{"memtable and level 0", "after a full merge"} {
		for k, want := range map[string]string{"a": "3", "b": "2", "c": "x,y", "d": "2", "e": "2,3", "f": "2"} {
			v, err := d.Get([]byte(k))
			if err != nil || string(v) != want {
				t.Fatalf("%s: %s = %q, %v; want %q", phase, k, v, err, want)
			}
		}
		if err := d.Compact(nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
}

// TestMergeWithoutOperator: merge writes are refused without an operator,
// and a database holding operands, reopened without one, reports the
// error on reads instead of a wrong value; its merges keep the operands,
// so a reopen with the operator reads them right.
func TestMergeWithoutOperator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	d := mustOpen(t, dir, recoveryOptions(nil))
	if err := d.Merge([]byte("k"), []byte("v")); !errors.Is(err, ErrNoMergeOperator) {
		t.Fatalf("Merge without an operator: %v", err)
	}
	b := d.NewBatch()
	b.Put([]byte("a"), []byte("1"))
	b.Merge([]byte("k"), []byte("v"))
	if err := d.Write(b); !errors.Is(err, ErrNoMergeOperator) {
		t.Fatalf("Write of a batch with an operand, without an operator: %v", err)
	}
	if _, err := d.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused batch was applied in part: %v", err)
	}
	d.Close()

	o := recoveryOptions(nil)
	o.Merge = listAppendMerge
	d = mustOpen(t, dir, o)
	d.Put([]byte("k"), []byte("base"))
	for i := range 300 { // enough to flush and merge
		d.Merge([]byte("k"), []byte{byte('a' + i%26)})
		d.Put([]byte(fmt.Sprintf("filler%04d", i)), make([]byte, 200))
	}
	want, err := d.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = mustOpen(t, dir, recoveryOptions(nil))
	if _, err := d.Get([]byte("k")); !errors.Is(err, ErrNoMergeOperator) {
		t.Fatalf("Get of operands without an operator: %v", err)
	}
	it := d.Scan([]byte("k"), nil)
	for it.Next() {
	}
	if err := it.Close(); !errors.Is(err, ErrNoMergeOperator) {
		t.Fatalf("scan over operands without an operator: %v", err)
	}
	if err := d.Compact(nil, nil); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = mustOpen(t, dir, o)
	if got, err := d.Get([]byte("k")); err != nil || string(got) != string(want) {
		t.Fatalf("after merges without an operator: %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
	d.Close()
}

// TestMergeOperatorError: an operator's error fails the read.
func TestMergeOperatorError(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = counterMerge // refuses operands that are not 8 bytes
	d := mustOpen(t, "/db", o)
	d.Merge([]byte("k"), []byte("bad"))
	if _, err := d.Get([]byte("k")); err == nil {
		t.Fatal("Get of a bad operand succeeded")
	}
	damaged(t) // the operand stays unreadable
	d.Close()
}

// inPlaceCounter adds operands to existing in place, and returns the
// operand itself when there is no value: what the operator contract
// allows. A reverse scan once kept that operand (memtable memory) as its
// running value and the next operand was added into the memtable.
func inPlaceCounter(_, existing, operand []byte) ([]byte, error) {
	if existing == nil {
		return operand, nil
	}
	n := binary.BigEndian.Uint64(existing) + binary.BigEndian.Uint64(operand)
	return binary.BigEndian.AppendUint64(existing[:0], n), nil
}

// TestReverseFoldOwnsItsValue: reverse scans over operands leave the
// stored operands as they were.
func TestReverseFoldOwnsItsValue(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = inPlaceCounter
	d := mustOpen(t, "/db", o)
	d.Merge([]byte("k"), counterOperand(1))
	d.Merge([]byte("k"), counterOperand(2))
	for i := range 3 {
		it := d.Scan(nil, nil)
		if !it.Last() || binary.BigEndian.Uint64(it.Value()) != 3 {
			t.Fatalf("reverse scan %d: %x", i, it.Value())
		}
		it.Close()
		if got := counterValue(t, d.Get, "k"); got != 3 {
			t.Fatalf("Get after reverse scan %d: %d, want 3", i, got)
		}
	}
	d.Close()
}

// TestMergeOperatorErrorInMerge: an operator that fails in a merge of
// files stops background work and writes with an error naming it, rather
// than retrying a merge that cannot succeed while level 0 grows.
func TestMergeOperatorErrorInMerge(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = counterMerge
	d := mustOpen(t, "/db", o)
	damaged(t)
	d.Merge([]byte("k"), counterOperand(1))
	d.Merge([]byte("k"), []byte("bad"))
	err := d.Compact(nil, nil)
	if !errors.Is(err, lsm.ErrMergeOperator) {
		t.Fatalf("Compact over a bad operand: %v, want ErrMergeOperator", err)
	}
	if err := d.Put([]byte("x"), []byte("y")); !errors.Is(err, ErrWritesStopped) {
		t.Fatalf("Put after the failed merge: %v, want ErrWritesStopped", err)
	}
	d.Close()
}

// TestReverseFoldOfEmptyOperands: an empty result is a value, not "no
// value": a reverse scan over two empty list items reads the list ","
// as Get does (it read "" once the running value was copied).
func TestReverseFoldOfEmptyOperands(t *testing.T) {
	o := recoveryOptions(vfs.NewMem())
	o.Merge = listAppendMerge
	d := mustOpen(t, "/db", o)
	d.Merge([]byte("k"), nil)
	d.Merge([]byte("k"), nil)
	if v, err := d.Get([]byte("k")); err != nil || string(v) != "," {
		t.Fatalf("Get: %q, %v; want \",\"", v, err)
	}
	it := d.Scan(nil, nil)
	if !it.Last() || string(it.Value()) != "," {
		t.Fatalf("reverse scan: %q, want \",\"", it.Value())
	}
	it.Close()
	d.Close()
}
