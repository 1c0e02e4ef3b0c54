package lsm

import (
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// TestRunFindPastExclusiveEnd: a run whose file ends at a range deletion's
// exclusive end at user key k, followed by a file that starts at k: Find(k)
// is the second file: the first holds nothing of k, and a Get sent there
// would miss the newest version of k.
func TestRunFindPastExclusiveEnd(t *testing.T) {
	file := func(num base.FileNum, smallest, largest base.InternalKey) *File {
		return &File{FileMeta: manifest.FileMeta{FileNum: num, Smallest: smallest, Largest: largest}}
	}
	a := file(1, base.MakeInternalKey([]byte("a"), 5, base.KindSet),
		base.InternalKey{UserKey: []byte("k"), Trailer: base.ExclusiveEndTrailer})
	b := file(2, base.MakeInternalKey([]byte("k"), 9, base.KindSet), base.MakeInternalKey([]byte("p"), 3, base.KindSet))
	r := &Run{ID: 1, Files: []*File{a, b}}
	for key, want := range map[string]*File{"a": a, "j": a, "k": b, "m": b, "p": b, "q": nil, "0": nil} {
		if got := r.Find([]byte(key)); got != want {
			t.Errorf("Find(%q) = %v, want %v", key, got, want)
		}
	}
}
