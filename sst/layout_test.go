package sst

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
)

// checkLayout checks a file's layout against its properties: the page
// types add up to the file, the tree's levels to its node pages, and no
// type uses more bytes than its pages hold.
func checkLayout(t *testing.T, name string, r *Reader) Layout {
	t.Helper()
	l, err := r.Layout()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := r.Properties()
	byType := map[string]uint32{}
	var total uint32
	for _, pt := range l.PageTypes {
		byType[pt.Type] = pt.Pages
		total += pt.Pages
		if pt.Pages == 0 || pt.UsedBytes <= uint64(pt.Pages)*pageHeaderSize || pt.UsedBytes > uint64(pt.Pages)*uint64(p.PageSize) {
			t.Errorf("%s: %s pages: %d using %d bytes", name, pt.Type, pt.Pages, pt.UsedBytes)
		}
	}
	want := map[string]uint32{"metadata": 1, "leaf": p.LeafPages, "node": p.NodePages, "bloom": p.BloomPages,
		"range-del": p.RangeDelPages, "value": p.ValuePages, "value-directory": p.ValueDirPages, "overflow": p.OverflowPages}
	for typ, n := range want {
		if byType[typ] != n {
			t.Errorf("%s: %d %s pages, properties say %d", name, byType[typ], typ, n)
		}
	}
	if total != p.Pages {
		t.Errorf("%s: page types add up to %d pages of %d", name, total, p.Pages)
	}
	nodes := 0
	for _, n := range l.NodesPerLevel {
		nodes += n
	}
	if len(l.NodesPerLevel) != p.Height || uint32(nodes) != p.NodePages || (p.Height > 0 && l.NodesPerLevel[p.Height-1] != 1) {
		t.Errorf("%s: tree levels %v, height %d, %d node pages", name, l.NodesPerLevel, p.Height, p.NodePages)
	}
	if (l.BloomBytes > 0) != (p.BloomPages > 0) || (p.BloomPages > 0 && l.BloomHashes < 1) {
		t.Errorf("%s: bloom %d bytes, %d hashes, %d pages", name, l.BloomBytes, l.BloomHashes, p.BloomPages)
	}
	return l
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	var kvs []kv
	for i := 0; i < 3000; i++ {
		kvs = append(kvs, kv{ikey(fmt.Sprintf("key%06d", i), base.SeqNum(i+1), base.KindSet), pattern(i%300, i)})
	}
	path := filepath.Join(dir, "000001.sst")
	writeTable(t, path, WriterOptions{PageSize: 1024, BloomBitsPerKey: 10}, kvs, []rd{{[]byte("key1"), []byte("key2"), 5000}})
	r, _ := openTable(t, path, 1024, 1)
	l := checkLayout(t, "3000 keys", r)
	r.Close()
	if l.Version != formatVersion || len(l.NodesPerLevel) < 2 || l.BloomHashes == 0 || l.BloomBitsPerKey < 9 {
		t.Fatalf("layout %+v", l)
	}

	// Every golden file, of each format version.
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*", "db", "*.sst"))
	if len(paths) == 0 {
		t.Fatal("no golden SSTs")
	}
	for _, p := range paths {
		r, _ := openTable(t, p, 1024, 1)
		checkLayout(t, p, r)
		r.Close()
	}

	// A damaged page fails with a corruption error naming it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[3*1024+100] ^= 1
	os.WriteFile(path, data, 0o644)
	pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: 1024})
	r, err = openWith(path, pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Layout(); !errors.Is(err, base.ErrCorruption) || !isCorruption(err, "000001.sst") {
		t.Fatalf("Layout of a damaged file: %v", err)
	}
}
