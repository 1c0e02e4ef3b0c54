package rangedel

import (
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
