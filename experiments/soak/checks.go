package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// reader is what the read checks use; *db.DB and *db.Snapshot have it.
type reader interface {
	Get(key []byte) ([]byte, error)
	NewIter(o *db.IterOptions) *db.Iterator
}

// view is the expected state of keys lo..lo+len(vers)-1 of a key space of
// n keys: the version each holds, 0 for absent.
type view struct {
	lo   int
	vers []uint64
	n    int
}

func (v view) hi() int             { return v.lo + len(v.vers) }
func (v view) at(i int) uint64     { return v.vers[i-v.lo] }
func (v view) slice(a, b int) view { return view{lo: a, vers: v.vers[a-v.lo : b-v.lo], n: v.n} }

// next returns the first present key at or after i, or hi if none.
func (v view) next(i int) int {
	for i = max(i, v.lo); i < v.hi() && v.at(i) == 0; i++ {
	}
	return i
}

// prev returns the last present key before i, or lo-1 if none.
func (v view) prev(i int) int {
	for i = min(i, v.hi()) - 1; i >= v.lo && v.at(i) == 0; i-- {
	}
	return i
}

// bound returns a byte bound that stands for key number i (see keys.go):
// as a lower bound it admits keys from i on, as an upper bound keys
// before i. The form is picked at random, so every form gets exercised.
func bound(i, n int, lower bool, rng *rand.Rand) []byte {
	if (lower && i == 0 || !lower && i == n) && rng.IntN(4) == 0 {
		return nil
	}
	switch rng.IntN(3) {
	case 1:
		if i > 0 {
			return succ(keyOf(i - 1))
		}
	case 2:
		if i%windowKeys == 0 {
			return windowPrefix(i / windowKeys)
		}
	}
	return keyOf(i)
}

// matches reports whether a Get that returned got, err found version ver
// of key i.
func matches(i int, ver uint64, got []byte, err error) bool {
	if ver == 0 {
		return errors.Is(err, db.ErrNotFound)
	}
	return err == nil && bytes.Equal(got, valueFor(i, ver))
}

// observed names what a Get returned.
func observed(got []byte, err error) string {
	switch {
	case errors.Is(err, db.ErrNotFound):
		return "absent"
	case err != nil:
		return fmt.Sprintf("error %v", err)
	}
	return describe(got)
}

// checkGet gets key i and compares it with the view.
func checkGet(r reader, v view, i int) error {
	got, err := r.Get(keyOf(i))
	if !matches(i, v.at(i), got, err) {
		// Whether the answer changes tells a fault that the next flush or
		// merge hides from one that stays.
		time.Sleep(100 * time.Millisecond)
		again, err2 := r.Get(keyOf(i))
		return fmt.Errorf("Get(key %d %q) = %s, want %s (100 ms later: %s)", i, keyOf(i), observed(got, err), describeVersion(v.at(i)), observed(again, err2))
	}
	return nil
}

// checkAbsent gets keys that lie between the soak's keys.
func checkAbsent(r reader, i int) error {
	for _, k := range [][]byte{succ(keyOf(i)), windowPrefix(i / windowKeys)} {
		if got, err := r.Get(k); !errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("Get(%q), a key never written, = %s, want absent", k, observed(got, err))
		}
	}
	return nil
}

// expectAt checks that an iterator whose last move returned ok is at key
// pos of v, or exhausted when pos is outside v.
func expectAt(it *db.Iterator, ok bool, v view, pos int, what string) error {
	if pos < v.lo || pos >= v.hi() {
		if ok {
			return fmt.Errorf("%s: at %q (%s), want the end", what, it.Key(), describe(it.Value()))
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if !ok {
		return fmt.Errorf("%s: ended (err %v), want key %d (%s)", what, it.Err(), pos, describeVersion(v.at(pos)))
	}
	if !bytes.Equal(it.Key(), keyOf(pos)) {
		got := "a key the soak never wrote"
		if i, isKey := keyIndex(it.Key()); isKey {
			got = fmt.Sprintf("key %d", i)
		}
		return fmt.Errorf("%s: at %q (%s), want key %d (%s)", what, it.Key(), got, pos, describeVersion(v.at(pos)))
	}
	if !bytes.Equal(it.Value(), valueFor(pos, v.at(pos))) {
		return fmt.Errorf("%s: key %d holds %s, want %s", what, pos, describe(it.Value()), describeVersion(v.at(pos)))
	}
	return nil
}

// checkScan reads keys [a, b) of v forward or backward, at most limit of
// them, through an iterator bounded by [a, b).
func checkScan(r reader, v view, a, b, limit int, reverse bool, rng *rand.Rand) error {
	sv := v.slice(a, b)
	it := r.NewIter(&db.IterOptions{LowerBound: bound(a, v.n, true, rng), UpperBound: bound(b, v.n, false, rng)})
	what := fmt.Sprintf("scan [%d, %d)", a, b)
	var ok bool
	var pos int
	switch {
	case reverse:
		what += " backward"
		ok, pos = it.Last(), sv.prev(b)
	case rng.IntN(2) == 0:
		ok, pos = it.First(), sv.next(a)
	default:
		ok, pos = it.Next(), sv.next(a) // Next on an unpositioned iterator is First
	}
	for k := 0; ; k++ {
		if err := expectAt(it, ok, sv, pos, fmt.Sprintf("%s, entry %d", what, k)); err != nil {
			it.Close()
			return err
		}
		if !ok || k == limit {
			break
		}
		if reverse {
			ok, pos = it.Prev(), sv.prev(pos)
		} else {
			ok, pos = it.Next(), sv.next(pos+1)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", what, err)
	}
	return nil
}

// checkSeek positions an iterator bounded by v with SeekGE or SeekLT at a
// key or just after it, then takes up to 8 steps in random directions.
func checkSeek(r reader, v view, rng *rand.Rand) error {
	it := r.NewIter(&db.IterOptions{LowerBound: bound(v.lo, v.n, true, rng), UpperBound: bound(v.hi(), v.n, false, rng)})
	j := v.lo + rng.IntN(len(v.vers)+1)
	var ok bool
	var pos int
	var what string
	switch rng.IntN(4) {
	case 0:
		ok, pos, what = it.SeekGE(keyOf(j)), v.next(j), fmt.Sprintf("SeekGE(key %d)", j)
	case 1:
		ok, pos, what = it.SeekGE(succ(keyOf(j))), v.next(j+1), fmt.Sprintf("SeekGE(after key %d)", j)
	case 2:
		ok, pos, what = it.SeekLT(keyOf(j)), v.prev(j), fmt.Sprintf("SeekLT(key %d)", j)
	default:
		ok, pos, what = it.SeekLT(succ(keyOf(j))), v.prev(j+1), fmt.Sprintf("SeekLT(after key %d)", j)
	}
	what = fmt.Sprintf("iterator over [%d, %d), %s", v.lo, v.hi(), what)
	for steps := rng.IntN(9); ; steps-- {
		if err := expectAt(it, ok, v, pos, what); err != nil {
			it.Close()
			return err
		}
		if !ok || steps == 0 {
			break
		}
		if rng.IntN(2) == 0 {
			ok, pos = it.Next(), v.next(pos+1)
			what += ", Next"
		} else {
			ok, pos = it.Prev(), v.prev(pos)
			what += ", Prev"
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", what, err)
	}
	return nil
}
