package lsm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

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

// TestCompactionIter runs the scripts in testdata/compaction_iter. The
// command
//
//	iter [snapshots=(<seqnum>, ...)] [bottommost] [zero-seqnums=<seqnum>]
//	     [rangedels=(<start>-<end>@<seqnum>, ...)] [no-operator]
//	<entries, as parseEntries reads them>
//
// runs the iterator over the entries, with the range tombstones [start,
// end) given and, unless no-operator, listAppend as the merge operator,
// and prints each entry it keeps, one per line, as key.KIND.seqnum:value.
func TestCompactionIter(t *testing.T) {
	datadriven.Walk(t, "testdata/compaction_iter", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "iter" {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			var snapshots []base.SeqNum
			if arg, ok := d.Arg("snapshots"); ok {
				for i := range arg.Vals {
					var s uint64
					arg.Scan(t, i, &s)
					snapshots = append(snapshots, base.SeqNum(s))
				}
			}
			var tombs []rangedel.Tombstone
			if arg, ok := d.Arg("rangedels"); ok {
				for _, v := range arg.Vals {
					rng, seq, ok1 := strings.Cut(v, "@")
					start, end, ok2 := strings.Cut(rng, "-")
					n, err := strconv.ParseUint(seq, 10, 64)
					if !ok1 || !ok2 || err != nil {
						d.Fatalf(t, "bad range deletion %q", v)
					}
					tombs = append(tombs, rangedel.Tombstone{Start: []byte(start), End: []byte(end), Seq: base.SeqNum(n)})
				}
			}
			var zeroUpTo uint64
			d.MaybeScanArgs(t, "zero-seqnums", &zeroUpTo)
			c := NewCompactionIter(parseEntries(t, d.Input), snapshots, d.HasArg("bottommost"))
			c.ZeroSeqNums(base.SeqNum(zeroUpTo))
			c.SetRangeDels(rangedel.NewSet(tombs, base.MaxSeqNum))
			if !d.HasArg("no-operator") {
				c.SetMergeOperator(listAppend)
			}
			var b strings.Builder
			for c.Next() {
				k := c.Key()
				fmt.Fprintf(&b, "%s.%s.%d", k.UserKey, k.Kind(), k.SeqNum())
				if k.Kind() != base.KindDelete {
					fmt.Fprintf(&b, ":%s", c.Value())
				}
				b.WriteByte('\n')
			}
			if err := c.Error(); err != nil {
				fmt.Fprintf(&b, "error: %v\n", err)
			}
			return b.String()
		})
	})
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
