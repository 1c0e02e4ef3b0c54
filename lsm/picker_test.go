package lsm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/bloom"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// buildVersion makes a version from a spec with one run per line:
//
//	L1 r5: a-b/100 c-d/100
//
// is run 5 at level 1 holding files [a, b] and [c, d] of 100 bytes each.
// File numbers are handed out in order, starting at 1.
func buildVersion(t testing.TB, spec string) *Version {
	t.Helper()
	e := &manifest.VersionEdit{}
	num := base.FileNum(1)
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		head, files, ok := strings.Cut(line, ":")
		var level int
		var run uint64
		if _, err := fmt.Sscanf(head, "L%d r%d", &level, &run); err != nil || !ok {
			t.Fatalf("bad run line %q", line)
		}
		for _, tok := range strings.Fields(files) {
			rng, sz, ok1 := strings.Cut(tok, "/")
			lo, hi, ok2 := strings.Cut(rng, "-")
			size, err := strconv.ParseUint(sz, 10, 64)
			if !ok1 || !ok2 || err != nil {
				t.Fatalf("bad file %q in %q", tok, line)
			}
			e.NewFiles = append(e.NewFiles, manifest.NewFile{Level: level, Meta: fileMeta(num, run, lo, hi, size)})
			num++
		}
	}
	v, err := newVersion(nil).Apply(e)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fileMeta(num base.FileNum, run uint64, lo, hi string, size uint64) manifest.FileMeta {
	return manifest.FileMeta{
		FileNum:  num,
		Run:      run,
		Size:     size,
		Entries:  1,
		Smallest: base.MakeInternalKey([]byte(lo), 1, base.KindSet),
		Largest:  base.MakeInternalKey([]byte(hi), 1, base.KindSet),
	}
}

// describe formats a merge as
//
//	L0 r9 {a-b} + L1 r5 {b-c} => L1 r5 bottommost
//
// naming each input run's files by key range, then the output level and
// run ("new run" for OutputRunID 0) and the flags that are set.
func describe(c *Compaction) string {
	if c == nil {
		return "nil"
	}
	var b strings.Builder
	for i, in := range c.Inputs {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "L%d r%d {", in.Level, in.runID)
		for j, f := range in.Files {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s-%s", f.Smallest.UserKey, f.Largest.UserKey)
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, " => L%d ", c.OutputLevel)
	if c.OutputRunID == 0 {
		b.WriteString("new run")
	} else {
		fmt.Fprintf(&b, "r%d", c.OutputRunID)
	}
	if c.Bottommost {
		b.WriteString(" bottommost")
	}
	if c.TrivialMove {
		b.WriteString(" trivial")
	}
	return b.String()
}

var (
	// Capacities with T=4, B=100: L1 300, L2 1200, L3 4800.
	leveling = PickerOptions{SizeRatio: 4, RunsPerLevel: 1, RunsAtLastLevel: 1, L0Trigger: 4, BaseLevelSize: 100}
	tiering  = PickerOptions{SizeRatio: 4, RunsPerLevel: 3, RunsAtLastLevel: 3, L0Trigger: 4, BaseLevelSize: 100}
	lazy     = PickerOptions{SizeRatio: 4, RunsPerLevel: 3, RunsAtLastLevel: 1, L0Trigger: 4, BaseLevelSize: 100}
)

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts PickerOptions
		tree string
		want string
	}{{
		name: "nothing due",
		opts: leveling,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L1 r5: a-z/299`,
		want: "nil",
	}, {
		name: "leveling: L0 into L1 with its overlapping files",
		opts: leveling,
		tree: `
			L0 r12: c-e/10
			L0 r11: d-h/10
			L0 r10: b-d/10
			L0 r9: e-f/10
			L1 r5: a-a/10 b-c/10 g-k/10 m-n/10`,
		want: "L0 r12 {c-e} + L0 r11 {d-h} + L0 r10 {b-d} + L0 r9 {e-f} + L1 r5 {b-c g-k} => L1 r5 bottommost",
	}, {
		name: "leveling: L0 into L1 with data below is not bottommost",
		opts: leveling,
		tree: `
			L0 r12: c-e/10
			L0 r11: d-h/10
			L0 r10: b-d/10
			L0 r9: e-f/10
			L1 r5: a-a/10 b-c/10
			L2 r2: x-y/10`,
		want: "L0 r12 {c-e} + L0 r11 {d-h} + L0 r10 {b-d} + L0 r9 {e-f} + L1 r5 {b-c} => L1 r5",
	}, {
		name: "leveling: L0 into an empty L1 makes a new run",
		opts: leveling,
		tree: `
			L0 r12: c-e/10
			L0 r11: d-h/10
			L0 r10: b-d/10
			L0 r9: e-f/10`,
		want: "L0 r12 {c-e} + L0 r11 {d-h} + L0 r10 {b-d} + L0 r9 {e-f} => L1 new run bottommost",
	}, {
		name: "leveling: a level over capacity moves one file and its overlaps",
		opts: leveling,
		tree: `
			L1 r5: a-b/100 c-d/100 e-f/100
			L2 r3: a-c/100 e-e/10`,
		want: "L1 r5 {a-b} + L2 r3 {a-c} => L2 r3 bottommost",
	}, {
		name: "leveling: a file overlapping nothing below is moved trivially",
		opts: leveling,
		tree: `
			L1 r5: a-b/100 x-y/200
			L2 r3: c-d/100`,
		want: "L1 r5 {a-b} => L2 r3 bottommost trivial",
	}, {
		name: "leveling: the last level over capacity grows the tree",
		opts: leveling,
		tree: `L1 r5: a-b/200 c-d/200`,
		want: "L1 r5 {a-b} => L2 new run bottommost trivial",
	}, {
		name: "leveling: a transient second run at L1 is merged in place first",
		opts: leveling,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r6: c-d/10
			L1 r5: a-d/10`,
		want: "L1 r6 {c-d} + L1 r5 {a-d} => L1 r6 bottommost",
	}, {
		name: "leveling: the last level holding too many runs merges in place",
		opts: leveling,
		tree: `
			L1 r7: a-b/10
			L2 r6: c-d/10
			L2 r5: a-d/10`,
		want: "L2 r6 {c-d} + L2 r5 {a-d} => L2 r6 bottommost",
	}, {
		name: "leveling: the higher score wins",
		opts: leveling,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r5: a-b/900 c-d/900`,
		want: "L1 r5 {a-b} => L2 new run bottommost trivial",
	}, {
		name: "leveling: on a tie the shallower level wins",
		opts: leveling,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r5: c-d/150 e-f/150`,
		want: "L0 r12 {a-b} + L0 r11 {a-b} + L0 r10 {a-b} + L0 r9 {a-b} => L1 r5 bottommost",
	}, {
		name: "leveling: the deepest level over capacity with one run is left alone",
		opts: leveling,
		tree: `L7 r5: a-b/18446744073709551615`,
		want: "nil",
	}, {
		name: "tiering: L0 lands as a new L1 run, reading nothing at L1",
		opts: tiering,
		tree: `
			L0 r12: a-b/10
			L0 r11: c-d/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r6: a-z/10
			L1 r5: a-z/10`,
		want: "L0 r12 {a-b} + L0 r11 {c-d} + L0 r10 {a-b} + L0 r9 {a-b} => L1 new run",
	}, {
		name: "tiering: the last level holding too many runs merges in place",
		opts: tiering,
		tree: `
			L1 r8: a-b/10
			L1 r7: c-d/10
			L1 r6: a-d/10
			L1 r5: e-f/10`,
		want: "L1 r8 {a-b} + L1 r7 {c-d} + L1 r6 {a-d} + L1 r5 {e-f} => L1 r8 bottommost",
	}, {
		name: "tiering: a full level above the last is merged down whole",
		opts: tiering,
		tree: `
			L1 r8: a-b/10
			L1 r7: c-d/10
			L1 r6: a-d/10
			L1 r5: e-f/10
			L2 r2: a-z/10`,
		want: "L1 r8 {a-b} + L1 r7 {c-d} + L1 r6 {a-d} + L1 r5 {e-f} => L2 new run",
	}, {
		name: "tiering: the last level over capacity grows the tree",
		opts: tiering,
		tree: `
			L1 r6: a-d/150
			L1 r5: e-f/150`,
		want: "L1 r6 {a-d} + L1 r5 {e-f} => L2 new run bottommost trivial",
	}, {
		name: "lazy leveling: L0 lands as a new run at an intermediate level",
		opts: lazy,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r6: a-z/10
			L1 r5: a-z/10
			L2 r2: a-z/10`,
		want: "L0 r12 {a-b} + L0 r11 {a-b} + L0 r10 {a-b} + L0 r9 {a-b} => L1 new run",
	}, {
		name: "lazy leveling: a full intermediate level joins the last level's run",
		opts: lazy,
		tree: `
			L1 r8: a-b/10
			L1 r7: c-d/10
			L1 r6: a-d/10
			L1 r5: c-f/10
			L2 r2: a-a/10 b-c/10 g-h/10`,
		want: "L1 r8 {a-b} + L1 r7 {c-d} + L1 r6 {a-d} + L1 r5 {c-f} + L2 r2 {a-a b-c} => L2 r2 bottommost",
	}, {
		name: "lazy leveling: L0 into a last L1 joins its run",
		opts: lazy,
		tree: `
			L0 r12: a-b/10
			L0 r11: a-b/10
			L0 r10: a-b/10
			L0 r9: a-b/10
			L1 r5: a-a/10 c-d/10`,
		want: "L0 r12 {a-b} + L0 r11 {a-b} + L0 r10 {a-b} + L0 r9 {a-b} + L1 r5 {a-a} => L1 r5 bottommost",
	}, {
		name: "lazy leveling: the last level over capacity moves a file down",
		opts: lazy,
		tree: `L1 r5: a-b/200 c-d/200`,
		want: "L1 r5 {a-b} => L2 new run bottommost trivial",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			v := buildVersion(t, tc.tree)
			if got := describe(NewPicker(tc.opts).Pick(v)); got != tc.want {
				t.Errorf("Pick:\n got  %s\n want %s\nscores %.2f", got, tc.want, NewPicker(tc.opts).scores(v))
			}
		})
	}
}

func TestPickPartialRoundRobin(t *testing.T) {
	v := buildVersion(t, `
		L1 r5: a-b/100 c-d/100 e-f/100
		L2 r3: a-c/100 e-e/10`)
	p := NewPicker(leveling)
	for i, want := range []string{
		"L1 r5 {a-b} + L2 r3 {a-c} => L2 r3 bottommost",
		"L1 r5 {c-d} + L2 r3 {a-c} => L2 r3 bottommost",
		"L1 r5 {e-f} + L2 r3 {e-e} => L2 r3 bottommost",
		"L1 r5 {a-b} + L2 r3 {a-c} => L2 r3 bottommost", // wrapped around
	} {
		if got := describe(p.Pick(v)); got != want {
			t.Errorf("pick %d:\n got  %s\n want %s", i, got, want)
		}
	}
	// The pointer survives a change of the level's files: it resumes
	// after the last key moved, not at a file index.
	v2 := buildVersion(t, `
		L1 r5: a-a/100 b-c/100 g-h/100
		L2 r3: x-y/100`)
	if got, want := describe(p.Pick(v2)), "L1 r5 {g-h} => L2 r3 bottommost trivial"; got != want {
		t.Errorf("after the change:\n got  %s\n want %s", got, want)
	}
}

func TestPickManual(t *testing.T) {
	const chain = `
		L0 r9: a-b/10
		L1 r5: b-c/10 f-h/10 x-y/10
		L2 r3: c-f/10 k-m/10`
	for _, tc := range []struct {
		name       string
		tree       string
		start, end string // "" is nil (unbounded)
		want       string
	}{{
		name: "closure follows overlaps across levels",
		tree: chain, start: "a", end: "a",
		want: "L0 r9 {a-b} + L1 r5 {b-c f-h} + L2 r3 {c-f} => L2 r3 bottommost",
	}, {
		name: "closure from the middle",
		tree: chain, start: "g", end: "g",
		want: "L0 r9 {a-b} + L1 r5 {b-c f-h} + L2 r3 {c-f} => L2 r3 bottommost",
	}, {
		name: "unbounded takes everything",
		tree: chain,
		want: "L0 r9 {a-b} + L1 r5 {b-c f-h x-y} + L2 r3 {c-f k-m} => L2 r3 bottommost",
	}, {
		name: "nothing overlaps",
		tree: chain, start: "p", end: "q",
		want: "nil",
	}, {
		name: "start after end",
		tree: chain, start: "h", end: "a",
		want: "nil",
	}, {
		name: "already one run at the deepest level",
		tree: chain, start: "k", end: "l",
		want: "nil",
	}, {
		name: "a shallower file alone is moved to the deepest level",
		tree: chain, start: "x", end: "",
		want: "L1 r5 {x-y} => L2 r3 bottommost",
	}, {
		name: "several runs at the deepest level make a new run",
		tree: `
			L1 r7: a-b/10
			L1 r6: b-d/10
			L1 r5: x-y/10`,
		start: "a", end: "a",
		want: "L1 r7 {a-b} + L1 r6 {b-d} => L1 new run bottommost",
	}, {
		name: "level 0 alone goes to level 1",
		tree: `L0 r7: a-b/10`,
		want: "L0 r7 {a-b} => L1 new run bottommost",
	}, {
		name: "empty tree",
		tree: ``,
		want: "nil",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var start, end []byte
			if tc.start != "" {
				start = []byte(tc.start)
			}
			if tc.end != "" {
				end = []byte(tc.end)
			}
			v := buildVersion(t, tc.tree)
			if got := describe(NewPicker(leveling).PickManual(v, start, end)); got != tc.want {
				t.Errorf("PickManual(%q, %q):\n got  %s\n want %s", start, end, got, tc.want)
			}
		})
	}
}

func TestLevelCapacity(t *testing.T) {
	o := PickerOptions{SizeRatio: 4, BaseLevelSize: 10}
	for level, want := range []uint64{0, 30, 120, 480, 1920} {
		if got := o.levelCapacity(level); got != want {
			t.Errorf("levelCapacity(%d) = %d, want %d", level, got, want)
		}
	}
	if got, want := (PickerOptions{}).levelCapacity(2), uint64(3*4*64<<20); got != want {
		t.Errorf("default levelCapacity(2) = %d, want %d", got, want)
	}
	huge := PickerOptions{SizeRatio: 1000, BaseLevelSize: 1 << 40}
	if got := huge.levelCapacity(NumLevels - 1); got != math.MaxUint64 {
		t.Errorf("overflowing capacity = %d, want saturation", got)
	}
}

func TestRunLimitAndScores(t *testing.T) {
	v := buildVersion(t, `
		L0 r20: a-b/10
		L0 r19: a-b/10
		L1 r8: a-b/150
		L1 r7: a-b/10
		L2 r3: a-z/600`)
	for level, want := range []int{3, 3, 1, 1, 1} {
		if got := treeRunLimit(v, level, lazy); got != want {
			t.Errorf("runLimit(lazy, L%d) = %d, want %d", level, got, want)
		}
	}
	got := NewPicker(lazy).scores(v)
	want := []float64{0.5, 0.5, 0.5, 0, 0, 0, 0, 0} // L1: 2 runs of 3+1, 160/300 bytes
	want[1] = 160.0 / 300
	for l := range want {
		if math.Abs(got[l]-want[l]) > 1e-9 {
			t.Errorf("Scores()[%d] = %v, want %v", l, got[l], want[l])
		}
	}
}

// treeRunLimit is runLimit for v's deepest non-empty level and o with its
// defaults.
func treeRunLimit(v *Version, level int, o PickerOptions) int {
	return runLimit(v.DeepestNonEmpty(), level, o.withDefaults())
}

func TestPickerOptionsValidate(t *testing.T) {
	if err := (PickerOptions{}).validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	for _, o := range []PickerOptions{{SizeRatio: 1}, {RunsPerLevel: -1}, {RunsAtLastLevel: -2}, {L0Trigger: -1}} {
		if err := o.validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if o := (PickerOptions{SizeRatio: 1, RunsPerLevel: -1}).withDefaults(); o.SizeRatio != 4 || o.RunsPerLevel != 1 {
		t.Errorf("withDefaults kept invalid values: %+v", o)
	}
}

func TestBloomBitsForLevel(t *testing.T) {
	// Levels holding data: Monkey over the runs as they are. Runs of 1, 4
	// and 16 entries (each file has one entry) get rates proportional to
	// their sizes: ln(4)/ln²2 ≈ 2.885 more bits per level up, and the
	// total matches the budget.
	v := buildVersion(t, `
		L1 r5: a-b/10
		L2 r4: a-b/10 c-d/10 e-f/10 g-h/10
		L3 r3: a-a/1 b-b/1 c-c/1 d-d/1 e-e/1 f-f/1 g-g/1 h-h/1 i-i/1 j-j/1 k-k/1 l-l/1 m-m/1 n-n/1 o-o/1 p-p/1`)
	var bits [4]float64
	for level := 1; level <= 3; level++ {
		bits[level] = BloomBitsForLevel(v, level, leveling, 10, false)
	}
	for level := 1; level < 3; level++ {
		if d := bits[level] - bits[level+1]; math.Abs(d-math.Log(4)/(math.Ln2*math.Ln2)) > 1e-6 {
			t.Errorf("L%d-L%d: %.3f bits apart, want %.3f", level, level+1, d, math.Log(4)/(math.Ln2*math.Ln2))
		}
	}
	if total := bits[1]*1 + bits[2]*4 + bits[3]*16; math.Abs(total-10*21) > 1e-6 {
		t.Errorf("total bits %.3f, want %d", total, 10*21)
	}
	// An empty target level: the closed form for the full tree's shape.
	sparse := buildVersion(t, `
		L0 r9: a-b/10
		L1 r5: a-b/10
		L4 r3: a-b/10`)
	for _, o := range []PickerOptions{leveling, tiering, lazy} {
		want := bloom.LevelBits(4, 4, o.RunsPerLevel, o.RunsAtLastLevel, 10)
		for _, level := range []int{2, 3} {
			got := BloomBitsForLevel(sparse, level, o, 10, false)
			w := min(max(want[level-1], 1), bloom.MaxRunBitsPerKey)
			if math.Abs(got-w) > 1e-9 {
				t.Errorf("K=%d Z=%d L%d: %.3f bits, want %.3f", o.RunsPerLevel, o.RunsAtLastLevel, level, got, w)
			}
		}
	}
	// Leveling, T=4, L=7, 10 bits: DESIGN.md §4's worked example.
	deep := buildVersion(t, `L7 r1: a-b/10`)
	// Levels 1-6 are empty, so the closed form applies; the last level's
	// 9.0 is checked in package bloom (here it holds the only run).
	for level, want := range []float64{26.4, 23.5, 20.6, 17.7, 14.8, 11.9} {
		if got := BloomBitsForLevel(deep, level+1, leveling, 10, false); math.Abs(got-want) > 0.1 {
			t.Errorf("worked example L%d: %.2f bits, want %.1f", level+1, got, want)
		}
	}
	// A level below the tree counts as its last level.
	if got, want := BloomBitsForLevel(v, 6, leveling, 10, false), bloom.LevelBits(4, 6, 1, 1, 10)[5]; math.Abs(got-want) > 1e-9 {
		t.Errorf("below the tree: %.3f, want %.3f", got, want)
	}
	if got := BloomBitsForLevel(v, 1, leveling, 10, true); got != 10 {
		t.Errorf("uniform: %v bits, want 10", got)
	}
	if got := BloomBitsForLevel(v, 1, leveling, 0, false); got != 0 {
		t.Errorf("no filters: %v bits, want 0", got)
	}
	// Few bits on average starve the last level; it still gets 1.
	if got := BloomBitsForLevel(deep, 7, leveling, 0.5, false); got != 1 {
		t.Errorf("starved last level: %v bits, want the floor of 1", got)
	}
	if got := BloomBitsForLevel(newVersion(nil), 0, leveling, 10, false); math.Abs(got-10) > 1e-9 {
		t.Errorf("empty tree: %v bits, want 10 (one level holds everything)", got)
	}
}

// sim is a tree driven by the picker, holding for each synthetic file the
// keys it stores and their seqnums, and a model of each key's newest seqnum.
type sim struct {
	t     *rapid.T
	o     PickerOptions
	p     *Picker
	v     *Version
	next  uint64                             // file numbers and run ids
	seq   uint64                             // last seqnum written
	data  map[base.FileNum]map[string]uint64 // file -> key -> seqnum
	model map[string]uint64                  // key -> newest seqnum
	total uint64                             // bytes flushed (merges keep sizes)
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
		s := &sim{
			t: t, o: o, p: NewPicker(o), v: newVersion(nil),
			data: make(map[base.FileNum]map[string]uint64), model: make(map[string]uint64),
		}
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
			s.checkReads()
			s.settle()
			s.checkSettled()
		}
		// A manual merge of everything leaves one run at the deepest
		// level, and asking again finds nothing to do.
		if c := s.p.PickManual(s.v, nil, nil); c != nil {
			s.run(c)
		}
		if c := s.p.PickManual(s.v, nil, nil); c != nil {
			t.Fatalf("second full manual merge: %s", describe(c))
		}
		if d := s.v.DeepestNonEmpty(); d >= 0 && (s.v.NumRuns(d) != 1 || len(s.v.Files()) != len(s.v.Levels[d][0].Files)) {
			t.Fatalf("full manual merge left more than one run:\n%s", s.dump())
		}
	})
}

// readPickCase is a tree and the describe()d merge a read pick returns.
type readPickCase struct{ name, tree, want string }

// testReadPick runs pick (named what) over each case's tree.
func testReadPick(t *testing.T, what string, pick func(*Picker, *Version) *Compaction, cases []readPickCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := buildVersion(t, tc.tree)
			if got := describe(pick(NewPicker(lazy), v)); got != tc.want {
				t.Errorf("%s:\n got  %s\n want %s", what, got, tc.want)
			}
		})
	}
}

func TestPickForReads(t *testing.T) {
	pick := func(p *Picker, v *Version) *Compaction { return p.PickForReads(v, false) }
	testReadPick(t, "PickForReads", pick, []readPickCase{{
		name: "level 0 and level 1 runs fold into one level-1 run",
		tree: `
			L0 r9: a-c/10
			L0 r8: b-d/10
			L1 r7: a-m/10
			L1 r6: c-z/10
			L2 r3: a-k/10 l-z/10`,
		want: "L0 r9 {a-c} + L0 r8 {b-d} + L1 r7 {a-m} + L1 r6 {c-z} => L1 new run",
	}, {
		name: "level 0 over a leveled level 1 takes the whole run",
		tree: `
			L0 r9: a-c/10
			L1 r7: a-m/10 n-z/10`,
		want: "L0 r9 {a-c} + L1 r7 {a-m n-z} => L1 new run bottommost",
	}, {
		name: "level 0 folds into the shallowest non-empty level",
		tree: `
			L0 r9: a-c/10
			L2 r7: a-m/10 n-z/10
			L3 r3: a-z/10`,
		want: "L0 r9 {a-c} + L2 r7 {a-m n-z} => L2 new run",
	}, {
		name: "level 0 runs alone fold into level 1",
		tree: `
			L0 r9: a-c/10
			L0 r8: a-c/10`,
		want: "L0 r9 {a-c} + L0 r8 {a-c} => L1 new run bottommost",
	}, {
		name: "one level-0 run alone: nothing to fold",
		tree: `L0 r9: a-c/10`,
		want: "nil",
	}, {
		name: "without level 0, the shallowest level with runs to fold",
		tree: `
			L1 r7: a-m/10
			L2 r6: a-z/10
			L2 r5: c-d/10
			L3 r3: a-z/10
			L3 r2: a-z/10`,
		want: "L2 r6 {a-z} + L2 r5 {c-d} => L2 r6",
	}, {
		name: "the last level folds in place, bottommost",
		tree: `
			L1 r7: a-m/10
			L2 r6: a-z/10
			L2 r5: c-d/10`,
		want: "L2 r6 {a-z} + L2 r5 {c-d} => L2 r6 bottommost",
	}, {
		name: "one run per level: nothing to fold",
		tree: `
			L1 r7: a-m/10
			L2 r6: a-z/10`,
		want: "nil",
	}, {
		name: "empty tree",
		want: "nil",
	}})
}

func TestPickLevelsForReads(t *testing.T) {
	testReadPick(t, "PickLevelsForReads", (*Picker).PickLevelsForReads, []readPickCase{{
		name: "the shallowest level joins the next, with the files it overlaps",
		tree: `
			L1 r7: c-f/10 g-h/10
			L3 r5: a-b/10 c-d/10 e-g/10 h-k/10 m-z/10
			L4 r2: a-z/10`,
		want: "L1 r7 {c-f g-h} + L3 r5 {c-d e-g h-k} => L3 r5",
	}, {
		name: "into the last level, bottommost",
		tree: `
			L2 r7: a-m/10
			L3 r5: a-k/10 l-z/10`,
		want: "L2 r7 {a-m} + L3 r5 {a-k l-z} => L3 r5 bottommost",
	}, {
		name: "disjoint runs: the files move as they are",
		tree: `
			L1 r7: p-r/10
			L2 r5: a-k/10 l-o/10`,
		want: "L1 r7 {p-r} => L2 r5 bottommost trivial",
	}, {
		name: "runs to fold first: PickForReads has them",
		tree: `
			L1 r7: a-m/10
			L2 r6: a-z/10
			L2 r5: c-d/10`,
		want: "nil",
	}, {
		name: "level 0 first: PickForReads has it",
		tree: `
			L0 r9: a-c/10
			L1 r7: a-m/10
			L2 r6: a-z/10`,
		want: "nil",
	}, {
		name: "one level: nothing to fold",
		tree: `L3 r6: a-z/10`,
		want: "nil",
	}, {
		name: "empty tree",
		want: "nil",
	}})
}

func TestPickLevel0(t *testing.T) {
	const l0 = `
		L0 r20: a-c/10
		L0 r19: a-c/10
		L0 r18: a-c/10
		L0 r17: a-c/10`
	for _, tc := range []struct {
		name, tree string
		opts       PickerOptions
		want       string
	}{{
		name: "level 0 due over a tiered level 1: level 0 alone into a new run",
		tree: l0 + `
			L1 r9: a-z/10
			L2 r3: a-z/10`,
		opts: lazy,
		want: "L0 r20 {a-c} + L0 r19 {a-c} + L0 r18 {a-c} + L0 r17 {a-c} => L1 new run",
	}, {
		name: "level 1 at twice its run limit waits for its own merge",
		tree: l0 + `
			L1 r14: a-z/10
			L1 r13: a-z/10
			L1 r12: a-z/10
			L1 r11: a-z/10
			L1 r10: a-z/10
			L1 r9: a-z/10
			L2 r3: a-z/10`,
		opts: lazy,
		want: "nil",
	}, {
		name: "a leveled level 1 is an input: not for the level-0 goroutine",
		tree: l0 + `
			L1 r9: a-z/10
			L2 r3: a-z/10`,
		opts: leveling,
		want: "nil",
	}, {
		name: "level 0 not due",
		tree: `
			L0 r20: a-c/10
			L1 r9: a-z/10
			L2 r3: a-z/10`,
		opts: lazy,
		want: "nil",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			v := buildVersion(t, tc.tree)
			if got := describe(NewPicker(tc.opts).PickLevel0(v)); got != tc.want {
				t.Errorf("PickLevel0:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}
