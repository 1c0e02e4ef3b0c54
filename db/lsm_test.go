package db

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// waitIdle waits until no flush or merge is pending or running.
func (d *DB) waitIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.mu.bgErr == nil && (len(d.mu.imms) > 0 || d.mu.flushing || d.mu.compacting || d.mu.compactingLevel0 || d.picker.Pick(d.mu.version) != nil) {
		d.bgCond.Wait()
	}
}

// TestMergePoliciesShapeTree loads each policy with random writes and
// checks the data, that the tree grew several levels, and that once merges
// settle every level respects its run limit.
func TestMergePoliciesShapeTree(t *testing.T) {
	for _, p := range mergePolicies {
		t.Run(p.name, func(t *testing.T) {
			o := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, TargetFileSize: 64 << 10,
				SizeRatio: p.T, RunsPerLevel: p.K, RunsAtLastLevel: p.Z, L0CompactionTrigger: 2, FS: vfs.NewMem()}
			d := mustOpen(t, "/db", o)
			defer d.Close()
			rng := rand.New(rand.NewSource(1))
			want := map[string][]byte{}
			val := make([]byte, 100)
			for i := 0; i < 30000; i++ {
				k := fmt.Sprintf("key%06d", rng.Intn(20000))
				rng.Read(val)
				if err := d.Put([]byte(k), val); err != nil {
					t.Fatal(err)
				}
				want[k] = append([]byte(nil), val...)
			}
			d.waitIdle()
			m := d.Metrics()
			t.Logf("\n%s", m)
			deepest := 0
			for l, lm := range m.Levels {
				if lm.Files > 0 {
					deepest = l
				}
			}
			if deepest < 2 {
				t.Fatalf("tree has only %d levels", deepest+1)
			}
			for l := 1; l <= deepest; l++ {
				limit := p.K
				if l == deepest {
					limit = p.Z
				}
				if m.Levels[l].Runs > limit {
					t.Errorf("level %d holds %d runs, limit %d", l, m.Levels[l].Runs, limit)
				}
			}
			for k, v := range want {
				got, err := d.Get([]byte(k))
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("%s: %v", k, err)
				}
			}
		})
	}
}

// TestManifestRotation makes the manifest roll over many times and checks
// that only the live one is left and the tree reopens intact.
func TestManifestRotation(t *testing.T) {
	fs := vfs.NewMem()
	o := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, L0CompactionTrigger: 2, FS: fs, maxManifestSize: 2 << 10}
	d := mustOpen(t, "/db", o)
	for i := 0; i < 20000; i++ {
		if err := d.Put([]byte(fmt.Sprintf("k%06d", i%7000)), bytes.Repeat([]byte{byte(i)}, 50)); err != nil {
			t.Fatal(err)
		}
	}
	d.waitIdle()
	names, _ := fs.List("/db")
	manifests := 0
	for _, n := range names {
		if strings.HasPrefix(n, "MANIFEST-") {
			manifests++
		}
	}
	if manifests != 1 {
		t.Fatalf("%d manifests on disk: %v", manifests, names)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = mustOpen(t, "/db", o)
	defer d.Close()
	for i := 13000; i < 20000; i++ {
		v, err := d.Get([]byte(fmt.Sprintf("k%06d", i%7000)))
		if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 50)) {
			t.Fatalf("key %d after reopen: %v", i%7000, err)
		}
	}
}

// TestTrivialMovesAreNotWrites loads keys in order, so leveled merges move
// files down without rewriting them, and checks the moves are counted as
// such and not as bytes written.
func TestTrivialMovesAreNotWrites(t *testing.T) {
	o := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, TargetFileSize: 64 << 10,
		SizeRatio: 2, RunsPerLevel: 1, RunsAtLastLevel: 1, L0CompactionTrigger: 1, FS: vfs.NewMem()}
	d := mustOpen(t, "/db", o)
	defer d.Close()
	for i := 0; i < 40000; i++ {
		if err := d.Put([]byte(fmt.Sprintf("key%08d", i)), bytes.Repeat([]byte("v"), 60)); err != nil {
			t.Fatal(err)
		}
	}
	d.waitIdle()
	m := d.Metrics()
	if m.TrivialMoves == 0 {
		t.Fatalf("no trivial moves:\n%s", m)
	}
	// A rewrite's output may exceed its input a little (Monkey gives deeper
	// files other filter sizes), but moved files would dwarf both.
	if m.CompactionBytesOut > m.CompactionBytesIn*3/2 {
		t.Fatalf("merges wrote %d bytes from %d read: moved files counted as written\n%s", m.CompactionBytesOut, m.CompactionBytesIn, m)
	}
}
