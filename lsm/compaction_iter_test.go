package lsm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
)

// entryIter is an InternalIterator over entries in CompareInternal order
// (forward only: a compaction reads its input once).
type entryIter struct {
	keys   []base.InternalKey
	values [][]byte
	pos    int
}

func (s *entryIter) First() bool           { s.pos = 0; return s.Valid() }
func (s *entryIter) Last() bool            { panic("unused") }
func (s *entryIter) SeekGE([]byte) bool    { panic("unused") }
func (s *entryIter) SeekLT([]byte) bool    { panic("unused") }
func (s *entryIter) Prev() bool            { panic("unused") }
func (s *entryIter) Next() bool            { s.pos++; return s.Valid() }
func (s *entryIter) Valid() bool           { return s.pos < len(s.keys) }
func (s *entryIter) Key() base.InternalKey { return s.keys[s.pos] }
func (s *entryIter) Value() []byte         { return s.values[s.pos] }
func (s *entryIter) Error() error          { return nil }
func (s *entryIter) Close() error          { return nil }

var kindNames = map[string]base.Kind{"SET": base.KindSet, "DEL": base.KindDelete, "MERGE": base.KindMerge}

// parseEntries reads "a.MERGE.5:c b.SET.3:x a.DEL.2" into entries.
func parseEntries(t *testing.T, s string) *entryIter {
	t.Helper()
	it := &entryIter{}
	for _, f := range strings.Fields(s) {
		kv := strings.SplitN(f, ":", 2)
		parts := strings.Split(kv[0], ".")
		seq, err := strconv.Atoi(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		it.keys = append(it.keys, base.MakeInternalKey([]byte(parts[0]), base.SeqNum(seq), kindNames[parts[1]]))
		var v []byte
		if len(kv) == 2 {
			v = []byte(kv[1])
		}
		it.values = append(it.values, v)
	}
	return it
}

// listAppend joins operands with commas: associative, nil is the empty
// list.
func listAppend(_, existing, operand []byte) ([]byte, error) {
	if existing == nil {
		return append([]byte{}, operand...), nil
	}
	return append(append(existing, ','), operand...), nil
}

// TestCompactionIterFoldsOperands runs the compaction iterator over
// versions that mix merge operands with values, deletions, range
// tombstones and snapshots, and checks what it writes.
func TestCompactionIterFoldsOperands(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		snapshots  []base.SeqNum
		bottommost bool
		tombs      []rangedel.Tombstone
		noOperator bool
		zeroUpTo   base.SeqNum
		want       string
	}{
		{name: "onto a value", in: "a.MERGE.5:c a.MERGE.4:b a.SET.3:x a.SET.2:old", want: "a.SET.5:x,b,c"},
		{name: "onto a deletion", in: "a.MERGE.5:c a.MERGE.4:b a.DEL.3 a.SET.2:old", want: "a.SET.5:b,c"},
		{name: "no base, not bottommost", in: "a.MERGE.5:c a.MERGE.4:b", want: "a.MERGE.5:b,c"},
		{name: "no base, bottommost", in: "a.MERGE.5:c a.MERGE.4:b", bottommost: true, want: "a.SET.5:b,c"},
		{name: "bottommost seqnum zeroed", in: "a.MERGE.5:c a.SET.4:x", bottommost: true, zeroUpTo: 9, want: "a.SET.0:x,c"},
		{name: "one operand kept as it is", in: "a.MERGE.5:c b.SET.3:x c.MERGE.2:z", want: "a.MERGE.5:c b.SET.3:x c.MERGE.2:z"},
		{name: "keys after a fold", in: "a.MERGE.5:c a.MERGE.4:b b.SET.3:x c.MERGE.2:z c.MERGE.1:y", want: "a.MERGE.5:b,c b.SET.3:x c.MERGE.2:y,z"},
		{
			name: "snapshot stripes fold apart", in: "a.MERGE.6:d a.MERGE.5:c a.MERGE.4:b a.SET.3:x a.SET.1:old",
			snapshots: []base.SeqNum{4}, want: "a.MERGE.6:c,d a.SET.4:x,b",
		},
		{
			name: "a range tombstone is the base", in: "a.MERGE.5:c a.SET.3:x",
			tombs: []rangedel.Tombstone{{Start: []byte("a"), End: []byte("b"), Seq: 4}}, want: "a.SET.5:c",
		},
		{
			name: "without an operator every version under an operand stays", in: "a.MERGE.5:c a.MERGE.4:b a.SET.3:x a.SET.2:old",
			noOperator: true, want: "a.MERGE.5:c a.MERGE.4:b a.SET.3:x",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCompactionIter(parseEntries(t, tc.in), tc.snapshots, tc.bottommost)
			c.ZeroSeqNums(tc.zeroUpTo)
			c.SetRangeDels(rangedel.NewSet(tc.tombs, base.MaxSeqNum))
			if !tc.noOperator {
				c.SetMergeOperator(listAppend)
			}
			var got []string
			for c.Next() {
				k := c.Key()
				s := fmt.Sprintf("%s.%s.%d", k.UserKey, k.Kind(), k.SeqNum())
				if k.Kind() != base.KindDelete {
					s += ":" + string(c.Value())
				}
				got = append(got, s)
			}
			if err := c.Error(); err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

// TestCompactionIterOperatorError stops the merge at an operator's error.
func TestCompactionIterOperatorError(t *testing.T) {
	bad := errors.New("bad operand")
	c := NewCompactionIter(parseEntries(t, "a.MERGE.5:c a.SET.4:x b.SET.3:y"), nil, false)
	c.SetMergeOperator(func(_, _, _ []byte) ([]byte, error) { return nil, bad })
	if c.Next() {
		t.Fatalf("Next after a failed fold returned %s", c.Key())
	}
	if err := c.Error(); !errors.Is(err, bad) {
		t.Fatalf("Error: %v, want the operator's", err)
	}
}
