package lsm

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// treeRunLimit is runLimit for v's deepest non-empty level and o with its
// defaults.
func treeRunLimit(v *Version, level int, o PickerOptions) int {
	return runLimit(v.DeepestNonEmpty(), level, o.withDefaults())
}

// fataler is what the simulation needs of its test: a *rapid.T, or a
// *testing.T for a fixed scenario.
type fataler interface {
	Fatalf(format string, args ...any)
}

// sim is a tree driven by the picker, holding for each synthetic file the
// keys it stores and their seqnums, and a model of each key's newest seqnum.
type sim struct {
	t     fataler
	o     PickerOptions
	p     *Picker
	v     *Version
	next  uint64                             // file numbers and run ids
	seq   uint64                             // last seqnum written
	data  map[base.FileNum]map[string]uint64 // file -> key -> seqnum
	model map[string]uint64                  // key -> newest seqnum
	total uint64                             // bytes flushed (merges keep sizes)
}

// newSim returns an empty tree with a picker for o.
func newSim(t fataler, o PickerOptions) *sim {
	return &sim{
		t: t, o: o, p: NewPicker(o), v: newVersion(nil),
		data: make(map[base.FileNum]map[string]uint64), model: make(map[string]uint64),
	}
}

func (s *sim) id() uint64 { s.next++; return s.next }

func (s *sim) apply(e *manifest.VersionEdit) {
	nv, err := s.v.Apply(e)
	if err != nil {
		s.t.Fatalf("apply: %v", err)
	}
	s.v.Unref()
	s.v = nv
}

// flush adds a level-0 run of one file holding keys.
func (s *sim) flush(keys []string, size uint64) {
	num := base.FileNum(s.id())
	m := make(map[string]uint64)
	lo, hi := keys[0], keys[0]
	for _, k := range keys {
		s.seq++
		m[k] = s.seq
		s.model[k] = s.seq
		lo, hi = min(lo, k), max(hi, k)
	}
	s.data[num] = m
	s.total += size
	s.apply(&manifest.VersionEdit{NewFiles: []manifest.NewFile{{Level: 0, Meta: fileMeta(num, uint64(num), lo, hi, size)}}})
}

// run checks c against the tree and applies it as the db would: a trivial
// move relinks the file, anything else writes one file spanning the inputs'
// range that holds the newest version of each input key.
func (s *sim) run(c *Compaction) {
	t := s.t
	s.checkShape(c)
	e := &manifest.VersionEdit{}
	var size uint64
	merged := make(map[string]uint64)
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			e.DeletedFiles = append(e.DeletedFiles, manifest.DeletedFile{Level: in.Level, FileNum: f.FileNum})
			size += f.Size
			for k, seq := range s.data[f.FileNum] {
				if old, ok := merged[k]; ok && old < seq {
					t.Fatalf("%s: inputs not newest first: key %s seq %d read after seq %d", describe(c), k, seq, old)
				} else if !ok {
					merged[k] = seq
				}
			}
		}
	}
	run := c.OutputRunID
	if run == 0 {
		run = s.id()
	}
	if c.TrivialMove {
		for _, in := range c.Inputs {
			for _, f := range in.Files {
				m := f.FileMeta
				m.Run = run
				e.NewFiles = append(e.NewFiles, manifest.NewFile{Level: c.OutputLevel, Meta: m})
			}
		}
	} else {
		num := base.FileNum(s.id())
		rng := inputRange(c.Inputs)
		s.data[num] = merged
		e.NewFiles = []manifest.NewFile{{Level: c.OutputLevel, Meta: fileMeta(num, run, string(rng.lo), string(rng.hi), size)}}
	}
	s.apply(e)
	s.checkReads()
}

// checkShape checks a merge is well formed for the current tree.
func (s *sim) checkShape(c *Compaction) {
	t := s.t
	if len(c.Inputs) == 0 || c.OutputLevel < 1 || c.OutputLevel >= NumLevels {
		t.Fatalf("malformed merge %s", describe(c))
	}
	for i, in := range c.Inputs {
		if in.Level > c.OutputLevel {
			t.Fatalf("%s: input below the output level", describe(c))
		}
		if i > 0 {
			prev := c.Inputs[i-1]
			if prev.Level > in.Level || (prev.Level == in.Level && prev.runID <= in.runID) {
				t.Fatalf("%s: inputs not ordered newest first", describe(c))
			}
		}
		var r *Run
		for _, lr := range s.v.Levels[in.Level] {
			if lr.ID == in.runID {
				r = lr
			}
		}
		if r == nil || len(in.Files) == 0 {
			t.Fatalf("%s: input run L%d r%d missing or empty", describe(c), in.Level, in.runID)
		}
	}
	if c.OutputRunID != 0 {
		found := false
		for _, r := range s.v.Levels[c.OutputLevel] {
			found = found || r.ID == c.OutputRunID
		}
		if !found {
			t.Fatalf("%s: output run missing", describe(c))
		}
	}
	if c.TrivialMove {
		// One level's files, moved down, none overlapping another.
		var files []*File
		for _, in := range c.Inputs {
			if in.Level != c.Inputs[0].Level || in.Level >= c.OutputLevel {
				t.Fatalf("%s: bad trivial move", describe(c))
			}
			files = append(files, in.Files...)
		}
		for i, a := range files {
			for _, b := range files[i+1:] {
				if string(a.Smallest.UserKey) <= string(b.Largest.UserKey) && string(b.Smallest.UserKey) <= string(a.Largest.UserKey) {
					t.Fatalf("%s: trivial move of overlapping files", describe(c))
				}
			}
		}
	}
	// Bottommost must be exact: no file outside the inputs at or below
	// the output level overlaps the inputs' range.
	in := make(map[*File]bool)
	for _, ci := range c.Inputs {
		for _, f := range ci.Files {
			in[f] = true
		}
	}
	rng := inputRange(c.Inputs)
	want := true
	for l := c.OutputLevel; l < NumLevels; l++ {
		for _, r := range s.v.Levels[l] {
			for _, f := range r.Files {
				if !in[f] && (l > c.OutputLevel || rng.overlaps(f)) {
					want = false
				}
			}
		}
	}
	if c.Bottommost != want {
		t.Fatalf("%s: Bottommost %v, want %v", describe(c), c.Bottommost, want)
	}
}

// checkReads checks a lookup of every key, searching levels top down and
// runs newest first, finds its newest version.
func (s *sim) checkReads() {
	for k, want := range s.model {
		got, found := uint64(0), false
	search:
		for _, level := range s.v.Levels {
			for _, r := range level {
				if f := r.Find([]byte(k)); f != nil {
					if seq, ok := s.data[f.FileNum][k]; ok {
						got, found = seq, true
						break search
					}
				}
			}
		}
		if !found || got != want {
			s.t.Fatalf("key %s: read seq %d (found %v), want %d\n%s", k, got, found, want, s.dump())
		}
	}
}

// settle runs picked merges until the picker returns nil.
func (s *sim) settle() int {
	for n := 0; n < 10000; n++ {
		c := s.p.Pick(s.v)
		if c == nil {
			return n
		}
		s.run(c)
	}
	s.t.Fatalf("picker did not settle:\n%s", s.dump())
	return 0
}

// checkSettled checks the shape the policy promises once nothing is due.
func (s *sim) checkSettled() {
	t := s.t
	if n := s.v.NumRuns(0); n >= s.o.L0Trigger {
		t.Fatalf("settled with %d L0 runs, trigger %d\n%s", n, s.o.L0Trigger, s.dump())
	}
	last := s.v.DeepestNonEmpty()
	for l := 1; l < NumLevels; l++ {
		if n, limit := s.v.NumRuns(l), treeRunLimit(s.v, l, s.o); n > limit {
			t.Fatalf("settled with %d runs at L%d, limit %d\n%s", n, l, limit, s.dump())
		}
		if l < NumLevels-1 && s.v.levelSize(l) >= s.o.levelCapacity(l) {
			t.Fatalf("settled with L%d at %d bytes, capacity %d\n%s", l, s.v.levelSize(l), s.o.levelCapacity(l), s.dump())
		}
	}
	for l, sc := range s.p.scores(s.v) {
		if sc >= 1 && l < NumLevels-1 {
			t.Fatalf("settled with L%d scoring %.3f\n%s", l, sc, s.dump())
		}
	}
	// The tree only grows below level 1 when the last level reached its
	// capacity, and merges keep the bytes, so depth is logarithmic in the
	// bytes written.
	if last >= 2 && s.o.levelCapacity(last-1) > s.total {
		t.Fatalf("tree has %d levels for %d bytes; L%d capacity %d\n%s", last, s.total, last-1, s.o.levelCapacity(last-1), s.dump())
	}
}

func (s *sim) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "options %+v\n", s.o)
	for l, level := range s.v.Levels {
		for _, r := range level {
			fmt.Fprintf(&b, "L%d r%d:", l, r.ID)
			for _, f := range r.Files {
				fmt.Fprintf(&b, " %s-%s/%d", f.Smallest.UserKey, f.Largest.UserKey, f.Size)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestPickerSimulation(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		T := rapid.IntRange(2, 5).Draw(t, "T")
		o := PickerOptions{
			SizeRatio:     T,
			L0Trigger:     rapid.IntRange(1, 4).Draw(t, "L0Trigger"),
			BaseLevelSize: rapid.Uint64Range(10, 200).Draw(t, "B"),
		}
		// policy sets K and Z: leveling, tiering or lazy leveling.
		policy := func(o PickerOptions) PickerOptions {
			switch rapid.IntRange(0, 2).Draw(t, "policy") {
			case 0:
				o.RunsPerLevel, o.RunsAtLastLevel = 1, 1
			case 1:
				o.RunsPerLevel, o.RunsAtLastLevel = T-1, T-1
			case 2:
				o.RunsPerLevel, o.RunsAtLastLevel = T-1, 1
			}
			return o
		}
		o = policy(o)
		s := newSim(t, o)
		key := func(i int) string { return fmt.Sprintf("%04d", i) }
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for range steps {
			switch action := rapid.IntRange(0, 19).Draw(t, "action"); {
			case action == 0:
				// Reopen with another policy (same capacities): levels
				// may hold more runs than their new limit for a while.
				s.o = policy(s.o)
				s.p = NewPicker(s.o)
			case action <= 2:
				lo := rapid.IntRange(0, 999).Draw(t, "manualLo")
				hi := lo + rapid.IntRange(0, 300).Draw(t, "manualWidth")
				if c := s.p.PickManual(s.v, []byte(key(lo)), []byte(key(hi))); c != nil {
					if !c.Bottommost {
						t.Fatalf("manual merge %s is not bottommost", describe(c))
					}
					s.run(c)
				}
			default:
				lo := rapid.IntRange(0, 999).Draw(t, "lo")
				width := rapid.IntRange(0, 200).Draw(t, "width")
				keys := []string{key(lo), key(lo + width)}
				for range rapid.IntRange(0, 6).Draw(t, "extra") {
					keys = append(keys, key(lo+rapid.IntRange(0, width).Draw(t, "k")))
				}
				size := rapid.Uint64Range(1, 40).Draw(t, "size")
				if action == 19 {
					size *= 50 // a big flush, to reach the deepest levels
				}
				s.flush(keys, size)
			}
			s.step()
		}
		s.checkFullManualCompaction()
	})
}

// step checks the reads after an action, runs the merges the picker asks
// for and checks the shape they leave.
func (s *sim) step() {
	s.checkReads()
	s.settle()
	s.checkSettled()
}

// checkFullManualCompaction checks that a manual merge of everything leaves one
// run at the deepest level, and that asking again finds nothing to do.
func (s *sim) checkFullManualCompaction() {
	if c := s.p.PickManual(s.v, nil, nil); c != nil {
		s.run(c)
	}
	if c := s.p.PickManual(s.v, nil, nil); c != nil {
		s.t.Fatalf("second full manual merge: %s", describe(c))
	}
	if d := s.v.DeepestNonEmpty(); d >= 0 && (s.v.NumRuns(d) != 1 || len(s.v.Files()) != len(s.v.Levels[d][0].Files)) {
		s.t.Fatalf("full manual merge left more than one run:\n%s", s.dump())
	}
}

// TestPickerSimulationTrivialMoveOfSeveralFiles runs the simulation over
// the smallest tree where Pick returns a trivial move of more than one
// file: two level-0 runs of one key each, due at L0Trigger 2, move
// together into a new level-1 run. The simulation must relink both files
// and still read every key.
func TestPickerSimulationTrivialMoveOfSeveralFiles(t *testing.T) {
	s := newSim(t, PickerOptions{SizeRatio: 2, RunsPerLevel: 1, RunsAtLastLevel: 1, L0Trigger: 2, BaseLevelSize: 10})
	s.flush([]string{"0000", "0000"}, 1)
	s.step()
	s.flush([]string{"0001", "0001"}, 1)
	c := s.p.Pick(s.v)
	if got, want := describe(c), "L0 r2 {0001-0001} + L0 r1 {0000-0000} => L1 new run bottommost trivial"; got != want {
		t.Fatalf("Pick:\n got  %s\n want %s", got, want)
	}
	s.run(c)
	s.step()
	s.checkFullManualCompaction()
}
