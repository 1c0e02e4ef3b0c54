package db

import (
	"errors"
	"strings"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/vfs"
)

// TestCheckFindsDamage damages a healthy database's files in the ways
// Check looks for, one at a time, and expects each reported as corruption
// naming the file.
func TestCheckFindsDamage(t *testing.T) {
	damaged(t)
	build := func() (*vfs.MemFS, []string) {
		mem := vfs.NewMem()
		d := mustOpen(t, "/db", recoveryOptions(mem))
		for i := 0; i < 2000; i++ {
			d.Put(shuffledKey(i), recoveryValue(i))
		}
		d.Flush()
		d.waitIdle()
		rep := checkDB(t, d)
		if rep.Files == 0 || rep.Entries == 0 || rep.Pages < rep.Files {
			t.Fatalf("report of the healthy database: %+v", rep)
		}
		d.Close()
		var ssts []string
		for name := range sstNames(t, mem) {
			ssts = append(ssts, name)
		}
		return mem, ssts
	}
	for _, tc := range []struct {
		name   string
		damage func(fs *vfs.MemFS, path string)
		want   string
	}{
		{"bit flip in a leaf", func(fs *vfs.MemFS, path string) {
			f, _ := fs.OpenReadWrite(path)
			b := []byte{0}
			f.ReadAt(b, 1024+700)
			b[0] ^= 0x10
			f.WriteAt(b, 1024+700)
			f.Close()
		}, "page 1"},
		{"bit flip in the last page", func(fs *vfs.MemFS, path string) {
			f, _ := fs.OpenReadWrite(path)
			size, _ := f.Size()
			b := []byte{0}
			f.ReadAt(b, size-100)
			b[0] ^= 0x01
			f.WriteAt(b, size-100)
			f.Close()
		}, "checksum"},
		{"missing", func(fs *vfs.MemFS, path string) { fs.Remove(path) }, "missing"},
		{"truncated", func(fs *vfs.MemFS, path string) {
			f, _ := fs.OpenReadWrite(path)
			size, _ := f.Size()
			f.Truncate(size - 1024)
			f.Close()
		}, "bytes, the manifest records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged(t)
			mem, ssts := build()
			if len(ssts) == 0 {
				t.Fatal("no SST to damage")
			}
			victim := ssts[len(ssts)/2]
			tc.damage(mem, "/db/"+victim)
			d, err := Open("/db", recoveryOptions(mem))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			rep, err := d.Check()
			if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want corruption naming %s and %q", err, victim, tc.want)
			}
			if len(rep.Problems) != 1 {
				t.Fatalf("%d problems: %v", len(rep.Problems), rep.Problems)
			}
		})
	}
}

// TestCheckOverlappingRun gives checkRun a run whose files overlap, as a
// bug in the picker would make, and expects it reported.
func TestCheckOverlappingRun(t *testing.T) {
	file := func(num base.FileNum, lo, hi string) *lsm.File {
		return &lsm.File{FileMeta: manifest.FileMeta{FileNum: num,
			Smallest: base.MakeInternalKey([]byte(lo), 5, base.KindSet),
			Largest:  base.MakeInternalKey([]byte(hi), 5, base.KindSet)}}
	}
	var problems []error
	report := func(err error) { problems = append(problems, err) }
	checkRun(1, &lsm.Run{ID: 7, Files: []*lsm.File{file(1, "a", "c"), file(2, "d", "f")}}, report)
	if len(problems) != 0 {
		t.Fatalf("disjoint run: %v", problems)
	}
	checkRun(1, &lsm.Run{ID: 7, Files: []*lsm.File{file(1, "a", "e"), file(2, "d", "f"), file(3, "h", "g")}}, report)
	// Each bad file is also one a lookup of its first key does not reach.
	if len(problems) != 4 || !errors.Is(problems[0], ErrCorruption) ||
		!strings.Contains(problems[0].Error(), "000002.sst") || !strings.Contains(problems[0].Error(), "overlaps 000001.sst") ||
		!strings.Contains(problems[1].Error(), "finds another file") ||
		!strings.Contains(problems[2].Error(), "smallest key") {
		t.Fatalf("problems: %v", problems)
	}
}
