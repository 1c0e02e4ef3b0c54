package manifest

import (
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

func ikey(s string, seq base.SeqNum) base.InternalKey {
	return base.MakeInternalKey([]byte(s), seq, base.KindSet)
}

func meta(fn base.FileNum, run uint64, lo, hi string) FileMeta {
	return FileMeta{FileNum: fn, Run: run, Smallest: ikey(lo, 1), Largest: ikey(hi, 1), Size: uint64(fn) * 100, BloomBitsPerKey: 10}
}

// statesEqual compares the scalar fields and every level's files.
func statesEqual(a, b *State) bool {
	if a.LogNum != b.LogNum || a.NextFileNum != b.NextFileNum || a.LastSeq != b.LastSeq ||
		a.NumLevels() != b.NumLevels() || a.NumFiles() != b.NumFiles() {
		return false
	}
	for level := range maxLevels {
		fa, fb := a.Files(level), b.Files(level)
		if len(fa) != len(fb) {
			return false
		}
		for i := range fa {
			if !metasEqual(fa[i], fb[i]) {
				return false
			}
		}
	}
	return true
}

// model is a map oracle of the live file set.
type model map[base.FileNum]NewFile

func TestStateAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := NewState()
		m := model{}
		nextFn := base.FileNum(1)
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			e := &VersionEdit{}
			if rapid.Bool().Draw(t, "setScalars") {
				e.LogNum = base.FileNum(rapid.Uint64Range(0, 100).Draw(t, "log"))
				e.NextFileNum = nextFn + 10
				e.LastSeq = base.SeqNum(rapid.Uint64Range(0, 1000).Draw(t, "seq"))
			}
			// Delete some live files (maybe re-adding them elsewhere: a move).
			for fn, nf := range m {
				if rapid.IntRange(0, 3).Draw(t, "del") == 0 {
					e.DeletedFiles = append(e.DeletedFiles, DeletedFile{Level: nf.Level, FileNum: fn})
					if rapid.Bool().Draw(t, "move") {
						e.NewFiles = append(e.NewFiles, NewFile{Level: nf.Level + 1, Meta: nf.Meta})
					}
				}
			}
			for range rapid.IntRange(0, 4).Draw(t, "adds") {
				e.NewFiles = append(e.NewFiles, NewFile{Level: rapid.IntRange(0, 6).Draw(t, "level"), Meta: genMeta(t, nextFn)})
				nextFn++
			}
			if err := s.Apply(e); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for _, d := range e.DeletedFiles {
				delete(m, d.FileNum)
			}
			for _, nf := range e.NewFiles {
				m[nf.Meta.FileNum] = nf
			}

			if s.NumFiles() != len(m) {
				t.Fatalf("%d files, model %d", s.NumFiles(), len(m))
			}
			deepest := 0
			for fn, nf := range m {
				deepest = max(deepest, nf.Level+1)
				found := false
				for _, fm := range s.Files(nf.Level) {
					if fm.FileNum == fn && metasEqual(fm, nf.Meta) {
						found = true
					}
				}
				if !found {
					t.Fatalf("file %d missing from level %d", fn, nf.Level)
				}
			}
			if s.NumLevels() != deepest {
				t.Fatalf("NumLevels %d, want %d", s.NumLevels(), deepest)
			}
			for level := range s.NumLevels() {
				files := s.Files(level)
				for i := 1; i < len(files); i++ {
					a, b := files[i-1], files[i]
					if a.Run < b.Run || a.Run == b.Run && base.CompareInternal(a.Smallest, b.Smallest) > 0 {
						t.Fatalf("level %d not sorted at %d", level, i)
					}
				}
			}
			// Snapshot recreates the state, also through the encoding.
			snap := s.Snapshot()
			var dec VersionEdit
			if err := dec.decode(snap.encode(nil)); err != nil {
				t.Fatalf("decode snapshot: %v", err)
			}
			s2 := NewState()
			if err := s2.Apply(&dec); err != nil {
				t.Fatalf("apply snapshot: %v", err)
			}
			if !statesEqual(s, s2) {
				t.Fatal("snapshot does not recreate the state")
			}
		}
	})
}

func TestApplyRejects(t *testing.T) {
	base0 := func() *State {
		s := NewState()
		if err := s.Apply(&VersionEdit{NextFileNum: 10, NewFiles: []NewFile{
			{Level: 0, Meta: meta(1, 1, "a", "c")},
			{Level: 1, Meta: meta(2, 0, "b", "d")},
		}}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	bad := meta(5, 0, "z", "a")
	cases := map[string]*VersionEdit{
		"delete absent":        {DeletedFiles: []DeletedFile{{Level: 0, FileNum: 7}}},
		"delete wrong level":   {DeletedFiles: []DeletedFile{{Level: 1, FileNum: 1}}},
		"delete twice":         {DeletedFiles: []DeletedFile{{Level: 0, FileNum: 1}, {Level: 0, FileNum: 1}}},
		"add live":             {NewFiles: []NewFile{{Level: 3, Meta: meta(2, 0, "a", "b")}}},
		"add twice":            {NewFiles: []NewFile{{Level: 3, Meta: meta(6, 0, "a", "b")}, {Level: 2, Meta: meta(6, 0, "a", "b")}}},
		"add file zero":        {NewFiles: []NewFile{{Level: 3, Meta: meta(0, 0, "a", "b")}}},
		"level negative":       {NewFiles: []NewFile{{Level: -1, Meta: meta(6, 0, "a", "b")}}},
		"level too deep":       {NewFiles: []NewFile{{Level: maxLevels, Meta: meta(6, 0, "a", "b")}}},
		"delete level too big": {DeletedFiles: []DeletedFile{{Level: maxLevels, FileNum: 1}}},
		"keys inverted":        {NewFiles: []NewFile{{Level: 0, Meta: bad}}},
		"seqs inverted": {NewFiles: []NewFile{{Level: 0, Meta: func() FileMeta {
			m := meta(6, 0, "a", "b")
			m.SmallestSeq, m.LargestSeq = 9, 3
			return m
		}()}}},
		"NaN bloom": {NewFiles: []NewFile{{Level: 0, Meta: func() FileMeta {
			m := meta(6, 0, "a", "b")
			m.BloomBitsPerKey = math.NaN()
			return m
		}()}}},
		// The deletion is valid, the addition not: nothing may change.
		"partly bad": {LastSeq: 77, DeletedFiles: []DeletedFile{{Level: 0, FileNum: 1}}, NewFiles: []NewFile{{Level: 0, Meta: meta(2, 0, "a", "b")}}},
	}
	for name, e := range cases {
		s := base0()
		err := s.Apply(e)
		if !errors.Is(err, base.ErrCorruption) {
			t.Errorf("%s: Apply = %v, want corruption", name, err)
		}
		if !statesEqual(s, base0()) {
			t.Errorf("%s: rejected edit changed the state", name)
		}
	}
}

func TestApplyMoveAndScalars(t *testing.T) {
	s := NewState()
	m := meta(3, 0, "a", "b")
	if err := s.Apply(&VersionEdit{LogNum: 4, NextFileNum: 5, LastSeq: 6, NewFiles: []NewFile{{Level: 0, Meta: m}}}); err != nil {
		t.Fatal(err)
	}
	// Keys are copied on Apply.
	m.Smallest.UserKey[0] = 'X'
	if got := s.Files(0)[0].Smallest.UserKey[0]; got != 'a' {
		t.Fatalf("state aliases the edit's keys: %q", got)
	}
	if err := s.Apply(&VersionEdit{DeletedFiles: []DeletedFile{{Level: 0, FileNum: 3}}, NewFiles: []NewFile{{Level: 4, Meta: meta(3, 0, "a", "b")}}}); err != nil {
		t.Fatalf("move: %v", err)
	}
	if len(s.Files(0)) != 0 || len(s.Files(4)) != 1 || s.NumLevels() != 5 {
		t.Fatalf("after move: L0 %d files, L4 %d files, %d levels", len(s.Files(0)), len(s.Files(4)), s.NumLevels())
	}
	if s.LogNum != 4 || s.NextFileNum != 5 || s.LastSeq != 6 {
		t.Fatalf("zero fields overwrote scalars: %d %d %d", s.LogNum, s.NextFileNum, s.LastSeq)
	}
	if s.Files(-1) != nil || s.Files(maxLevels) != nil {
		t.Fatal("Files out of range should be nil")
	}
}

func TestFilesOrder(t *testing.T) {
	s := NewState()
	if err := s.Apply(&VersionEdit{NewFiles: []NewFile{
		{Level: 1, Meta: meta(1, 1, "m", "p")},
		{Level: 1, Meta: meta(2, 2, "x", "z")},
		{Level: 1, Meta: meta(3, 1, "a", "c")},
		{Level: 1, Meta: meta(4, 2, "d", "f")},
	}}); err != nil {
		t.Fatal(err)
	}
	var got []base.FileNum
	for _, f := range s.Files(1) {
		got = append(got, f.FileNum)
	}
	want := []base.FileNum{4, 2, 3, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
