package rangedel

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
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

// TestFragments runs the script testdata/fragments. Commands:
//
//	fragment [read-seq=<seqnum>]
//	<one tombstone per line: start-end@seqnum, for [start, end)>
//
// fragments the tombstones visible at read-seq (default MaxSeqNum) and
// prints the fragments, each as [start, end) and its seqnums; and
//
//	clip [lo=<key>] [hi=<key>]
//
// prints the parts of the last fragments inside [lo, hi).
func TestFragments(t *testing.T) {
	var frags []Fragment
	datadriven.RunTest(t, "testdata/fragments", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "fragment":
			readSeq := uint64(base.MaxSeqNum)
			d.MaybeScanArgs(t, "read-seq", &readSeq)
			var ts []Tombstone
			for _, line := range strings.Fields(d.Input) {
				rng, seq, ok1 := strings.Cut(line, "@")
				start, end, ok2 := strings.Cut(rng, "-")
				n, err := strconv.ParseUint(seq, 10, 64)
				if !ok1 || !ok2 || err != nil {
					d.Fatalf(t, "bad tombstone %q", line)
				}
				ts = append(ts, Tombstone{Start: []byte(start), End: []byte(end), Seq: base.SeqNum(n)})
			}
			frags = Fragments(ts, base.SeqNum(readSeq))
			return formatFragments(frags)
		case "clip":
			var lo, hi []byte
			if arg, ok := d.Arg("lo"); ok {
				lo = []byte(arg.SingleVal(t))
			}
			if arg, ok := d.Arg("hi"); ok {
				hi = []byte(arg.SingleVal(t))
			}
			return formatFragments(Clip(frags, lo, hi))
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

// formatFragments prints one fragment per line: [start, end) and its
// seqnums, or (none).
func formatFragments(frags []Fragment) string {
	if len(frags) == 0 {
		return "(none)\n"
	}
	var b strings.Builder
	for _, f := range frags {
		fmt.Fprintf(&b, "[%s, %s)", f.Start, f.End)
		for _, s := range f.Seqs {
			fmt.Fprintf(&b, " %d", s)
		}
		b.WriteByte('\n')
	}
	return b.String()
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
