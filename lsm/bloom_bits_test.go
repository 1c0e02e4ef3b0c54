package lsm

import (
	"math"
	"testing"

	"github.com/seed-d6fe07da/strata/bloom"
)

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

// TestBloomBitsForCompaction: a compaction's output gets Monkey's bits for
// the tree as it will be once the compaction is done. A whole fold leaves
// one run, which gets the whole budget (BloomBitsForLevel counted the
// upper runs it removes and gave it less); a compaction into a new run
// counts that run as the newest at its level; an empty output level keeps
// the closed form.
func TestBloomBitsForCompaction(t *testing.T) {
	v := buildVersion(t, `
		L0 r9: a-c/1000
		L1 r7: a-m/1000 n-z/1000
		L2 r3: a-k/3000 l-z/3000`)
	p := NewPicker(lazy)
	fold := p.PickFold(v, false)
	if fold == nil {
		t.Fatal("no fold")
	}
	if got := BloomBitsForCompaction(v, fold, lazy, 10, false); math.Abs(got-10) > 1e-6 {
		t.Errorf("whole fold: %.3f bits, want 10 (the only run left)", got)
	}
	if got := BloomBitsForLevel(v, 2, lazy, 10, false); got >= 10 {
		t.Errorf("BloomBitsForLevel at L2: %.3f bits, want under 10 (the upper runs share the budget)", got)
	}

	// Level 0 into a new level-1 run (buildVersion's files hold one entry
	// each): the runs are then of 1 (the new one, newest at level 1), 2 and
	// 2 entries.
	c := &Compaction{OutputLevel: 1, Inputs: []CompactionInput{{Level: 0, runID: 9, Files: v.Levels[0][0].Files}}}
	want := bloom.RunBits([]float64{1, 2, 2}, 10*5)[0]
	if got := BloomBitsForCompaction(v, c, lazy, 10, false); math.Abs(got-want) > 1e-6 {
		t.Errorf("new L1 run: %.3f bits, want %.3f", got, want)
	}

	// An empty output level: the closed form, as BloomBitsForLevel.
	down := &Compaction{OutputLevel: 3, Inputs: []CompactionInput{{Level: 2, runID: 3, Files: v.Levels[2][0].Files}}}
	if got, want := BloomBitsForCompaction(v, down, lazy, 10, false), BloomBitsForLevel(v, 3, lazy, 10, false); got != want {
		t.Errorf("empty output level: %.3f bits, want %.3f", got, want)
	}
	if got := BloomBitsForCompaction(v, fold, lazy, 10, true); got != 10 {
		t.Errorf("uniform: %v bits, want 10", got)
	}
	if got := BloomBitsForCompaction(v, fold, lazy, 0, false); got != 0 {
		t.Errorf("no filters: %v bits, want 0", got)
	}
}
