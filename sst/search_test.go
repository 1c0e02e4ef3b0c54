package sst

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// TestLeafBinarySearchMatchesBTree checks that Get answers the same under
// both search modes, for present and absent keys, old and new seqnums, and
// keys whose versions span leaves.
func TestLeafBinarySearchMatchesBTree(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var kvs []kv
	seq := base.SeqNum(1)
	for i := 0; i < 3000; i++ {
		k := fmt.Sprintf("k%05d", rng.Intn(2000)*2) // odd keys are absent
		kind := base.KindSet
		if rng.Intn(10) == 0 {
			kind = base.KindDelete
		}
		kvs = append(kvs, kv{key: ikey(k, seq, kind), value: pattern(rng.Intn(60), i)})
		seq++
	}
	kvs = sortKVs(kvs)
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: -1}, kvs, nil)
	open := func(mode SearchMode) *Reader {
		f, err := vfs.Default().Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(f, ReaderOptions{Cache: cache.New(cache.Options{Capacity: 1 << 20, PageSize: 1024}),
			FileNum: 1, FileName: "000001.sst", SearchMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	bt, lb := open(SearchBTree), open(SearchLeafBinary)
	defer bt.Close()
	defer lb.Close()
	if bt.Properties().Height == 0 {
		t.Fatal("want a tree with node pages")
	}
	for i := 0; i < 20000; i++ {
		k := []byte(fmt.Sprintf("k%05d", rng.Intn(4100)))
		s := base.SeqNum(rng.Intn(int(seq) + 5))
		g1, err1 := bt.Get(nil, k, s)
		g2, err2 := lb.Get(nil, k, s)
		if err1 != nil || err2 != nil || g1.Found != g2.Found || g1.Kind != g2.Kind || g1.Seq != g2.Seq || !bytes.Equal(g1.Value, g2.Value) {
			t.Fatalf("Get(%s, %d): btree (%v %v %d %v) leaf search (%v %v %d %v)", k, s, g1.Found, g1.Kind, g1.Seq, err1, g2.Found, g2.Kind, g2.Seq, err2)
		}
		if want, ok := modelGet(kvs, k, s); ok != g1.Found || (ok && want.key.SeqNum() != g1.Seq) {
			t.Fatalf("Get(%s, %d) = %v seq %d, model %v seq %d", k, s, g1.Found, g1.Seq, ok, want.key.SeqNum())
		}
	}
}

// TestIterPinsOnlyTheLeaf checks that an iterator over a tree of height 2
// or more holds exactly one pinned frame, whatever its position.
func TestIterPinsOnlyTheLeaf(t *testing.T) {
	var kvs []kv
	for i := 0; i < 20000; i++ {
		kvs = append(kvs, kv{key: ikey(fmt.Sprintf("k%06d", i), 1, base.KindSet), value: pattern(40, i)})
	}
	path := filepath.Join(t.TempDir(), "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024}, kvs, nil)
	r, pool := openTable(t, path, 1024, 1)
	defer r.Close()
	if r.Properties().Height < 2 {
		t.Fatalf("height %d, want >= 2", r.Properties().Height)
	}
	it := r.newIter()
	steps := 0
	for ok := it.SeekGE([]byte("k010000")); ok && steps < 3000; ok = it.Next() {
		if p := pool.Metrics().Pinned; p != 1 {
			t.Fatalf("step %d: %d frames pinned, want 1", steps, p)
		}
		steps++
	}
	for ok := it.Prev(); ok && steps < 6000; ok = it.Prev() {
		steps++
	}
	if p := pool.Metrics().Pinned; p != 1 {
		t.Fatalf("after Prev: %d frames pinned, want 1", p)
	}
	it.Close()
	if p := pool.Metrics().Pinned; p != 0 {
		t.Fatalf("after Close: %d frames pinned", p)
	}
}
