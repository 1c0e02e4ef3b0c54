package merge

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// sliceIter is an InternalIterator over a sorted slice, for tests.
type sliceIter struct {
	keys []base.InternalKey
	pos  int // -1 or len(keys) when invalid
}

func (s *sliceIter) First() bool { s.pos = 0; return s.Valid() }
func (s *sliceIter) Last() bool  { s.pos = len(s.keys) - 1; return s.Valid() }
func (s *sliceIter) SeekGE(k []byte) bool {
	s.pos = sort.Search(len(s.keys), func(i int) bool { return string(s.keys[i].UserKey) >= string(k) })
	return s.Valid()
}
func (s *sliceIter) SeekLT(k []byte) bool {
	s.pos = sort.Search(len(s.keys), func(i int) bool { return string(s.keys[i].UserKey) >= string(k) }) - 1
	return s.Valid()
}
func (s *sliceIter) Next() bool {
	if s.pos < len(s.keys) {
		s.pos++
	}
	return s.Valid()
}
func (s *sliceIter) Prev() bool {
	if s.pos >= 0 {
		s.pos--
	}
	return s.Valid()
}
func (s *sliceIter) Valid() bool           { return s.pos >= 0 && s.pos < len(s.keys) }
func (s *sliceIter) Key() base.InternalKey { return s.keys[s.pos] }
func (s *sliceIter) Value() []byte         { return nil }
func (s *sliceIter) Error() error          { return nil }
func (s *sliceIter) Close() error          { return nil }

// TestMergeAgainstSortedUnion drives the merging iterator with random
// seeks and steps in both directions and compares it with the sorted union
// of its inputs.
func TestMergeAgainstSortedUnion(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nChildren := rapid.IntRange(0, 4).Draw(t, "children")
		var all []base.InternalKey
		var children []base.InternalIterator
		seq := base.SeqNum(1)
		for c := 0; c < nChildren; c++ {
			keys := rapid.SliceOfN(rapid.StringMatching(`[a-d]{0,2}`), 0, 8).Draw(t, "keys")
			var ks []base.InternalKey
			for _, k := range keys {
				ks = append(ks, base.MakeInternalKey([]byte(k), seq, base.KindSet))
				seq++
			}
			slices.SortFunc(ks, base.CompareInternal)
			all = append(all, ks...)
			children = append(children, &sliceIter{keys: ks, pos: -1})
		}
		slices.SortFunc(all, base.CompareInternal)
		m := NewIterator(children...)
		pos := -1
		check := func(op string) {
			if pos < 0 || pos >= len(all) {
				if m.Valid() {
					t.Fatalf("%s: valid at %v, want exhausted", op, m.Key())
				}
				return
			}
			if !m.Valid() || base.CompareInternal(m.Key(), all[pos]) != 0 {
				t.Fatalf("%s: at %v (valid %v), want %v", op, m.Key(), m.Valid(), all[pos])
			}
		}
		for step := 0; step < 30; step++ {
			switch op := rapid.IntRange(0, 5).Draw(t, "op"); op {
			case 0:
				m.First()
				pos = 0
				check("First")
			case 1:
				m.Last()
				pos = len(all) - 1
				check("Last")
			case 2:
				k := rapid.StringMatching(`[a-e]{0,2}`).Draw(t, "seek")
				m.SeekGE([]byte(k))
				pos = sort.Search(len(all), func(i int) bool { return string(all[i].UserKey) >= k })
				check("SeekGE " + k)
			case 3:
				k := rapid.StringMatching(`[a-e]{0,2}`).Draw(t, "seek")
				m.SeekLT([]byte(k))
				pos = sort.Search(len(all), func(i int) bool { return string(all[i].UserKey) >= k }) - 1
				check("SeekLT " + k)
			case 4:
				if pos >= 0 && pos < len(all) {
					m.Next()
					pos++
					check("Next")
				}
			case 5:
				if pos >= 0 && pos < len(all) {
					m.Prev()
					pos--
					check("Prev")
				}
			}
		}
		m.Close()
	})
}

// BenchmarkMergeNext walks a merge shaped like the peer benchmark's tree
// after overwrites: a last level with every key, a level above it with a
// quarter of them and a memtable with a thirtieth, 16-byte decimal keys.
func BenchmarkMergeNext(b *testing.B) {
	const n = 1 << 17
	var levels [3][]base.InternalKey
	every := []int{1, 4, 30}
	for i := range n {
		k := []byte(fmt.Sprintf("%016d", 2*i))
		for l, e := range every {
			// A multiplicative hash picks the subsets without a pattern.
			if uint32(i)*2654435761%uint32(e) == 0 {
				levels[l] = append(levels[l], base.MakeInternalKey(k, base.SeqNum(10-l), base.KindSet))
			}
		}
	}
	children := make([]base.InternalIterator, len(levels))
	for l := range levels {
		children[l] = &sliceIter{keys: levels[l], pos: -1}
	}
	m := NewIterator(children...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !m.Valid() && !m.First() {
			b.Fatal("empty")
		}
		m.Next()
	}
}
