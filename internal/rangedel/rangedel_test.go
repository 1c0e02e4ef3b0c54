package rangedel

import (
	"encoding/binary"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// TestAgainstModel checks MaxCovering against a direct scan of the
// tombstones, and that fragments are sorted and disjoint.
func TestAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.ByteRange('a', 'e'), 0, 3)
		n := rapid.IntRange(0, 8).Draw(t, "n")
		var ts []Tombstone
		for i := 0; i < n; i++ {
			ts = append(ts, Tombstone{Start: key.Draw(t, "start"), End: key.Draw(t, "end"),
				Seq: base.SeqNum(rapid.IntRange(1, 20).Draw(t, "seq"))})
		}
		readSeq := base.SeqNum(rapid.IntRange(0, 21).Draw(t, "readSeq"))
		s := NewSet(ts, readSeq)
		frags := s.Fragments()
		for i := 1; i < len(frags); i++ {
			if string(frags[i-1].End) > string(frags[i].Start) {
				t.Fatalf("fragments overlap: %v %v", frags[i-1], frags[i])
			}
		}
		// Each fragment lists exactly the visible tombstones covering it,
		// newest first, without repeats.
		for _, f := range frags {
			var want []base.SeqNum
			for _, tb := range ts {
				if tb.Seq <= readSeq && string(tb.Start) <= string(f.Start) && string(f.End) <= string(tb.End) && !slices.Contains(want, tb.Seq) {
					want = append(want, tb.Seq)
				}
			}
			slices.Sort(want)
			slices.Reverse(want)
			if len(want) == 0 || !slices.Equal(f.Seqs, want) {
				t.Fatalf("fragment [%q, %q) has seqs %v, want %v", f.Start, f.End, f.Seqs, want)
			}
		}
		for i := 0; i < 10; i++ {
			k := key.Draw(t, "probe")
			q := base.SeqNum(rapid.IntRange(0, 21).Draw(t, "q"))
			var want base.SeqNum
			for _, tb := range ts {
				if tb.Seq <= readSeq && tb.Seq <= q && string(tb.Start) <= string(k) && string(k) < string(tb.End) && tb.Seq > want {
					want = tb.Seq
				}
			}
			if got := s.MaxCovering(k, q); got != want {
				t.Fatalf("MaxCovering(%q, %d) = %d, want %d", k, q, got, want)
			}
		}
	})
}

func TestClip(t *testing.T) {
	frags := Fragments([]Tombstone{{Start: []byte("b"), End: []byte("m"), Seq: 3}}, 10)
	got := Clip(frags, []byte("d"), []byte("f"))
	if len(got) != 1 || string(got[0].Start) != "d" || string(got[0].End) != "f" {
		t.Fatalf("clip: %v", got)
	}
	if got := Clip(frags, []byte("m"), nil); len(got) != 0 {
		t.Fatalf("clip past end: %v", got)
	}
}

// BenchmarkFragmentsWindows fragments the tombstones of 10,000 evicted
// time windows: disjoint, adjacent ranges, as DeleteRange of consecutive
// event-time windows leaves them. A reader builds such a set per iterator.
func BenchmarkFragmentsWindows(b *testing.B) {
	ts := make([]Tombstone, 10000)
	for i := range ts {
		ts[i] = Tombstone{Start: binary.BigEndian.AppendUint64(nil, uint64(i)*60),
			End: binary.BigEndian.AppendUint64(nil, uint64(i+1)*60), Seq: base.SeqNum(i + 1)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if f := Fragments(ts, base.MaxSeqNum); len(f) != len(ts) {
			b.Fatalf("%d fragments", len(f))
		}
	}
}
