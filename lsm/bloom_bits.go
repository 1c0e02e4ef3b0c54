package lsm

import (
	"github.com/seed-d6fe07da/strata/bloom"
)

// BloomBitsForLevel returns the bloom filter bits per key for a new SST
// written at level of v. With uniform every level gets avgBits. Otherwise
// Monkey's allocation for the tree's shape is used: bloom.LevelBits with
// size ratio T, K, Z and L = max(v's deepest non-empty level, level, 1)
// levels, so a level below the tree counts as its new last level; level 0
// gets level 1's bits. The result is clamped to [1, bloom.MaxRunBitsPerKey].
// avgBits <= 0 means no filters and returns 0.
func BloomBitsForLevel(v *Version, level int, o PickerOptions, avgBits float64, uniform bool) float64 {
	if !(avgBits > 0) {
		return 0
	}
	if uniform {
		return avgBits
	}
	// With data at the target level, allocate over the tree as it is: the
	// runs' real entry counts, so the filters' total memory matches the
	// budget even when the last level is not T times the one above it.
	if v != nil && len(v.Levels[level]) > 0 {
		var entries []float64
		target := -1
		for l := range v.Levels {
			for _, r := range v.Levels[l] {
				if l == level && target < 0 {
					target = len(entries) // the newest run at level
				}
				entries = append(entries, float64(r.entries()))
			}
		}
		if b, ok := bitsOverRuns(entries, target, avgBits); ok {
			return b
		}
	}
	return closedFormBits(v, level, o, avgBits)
}

// BloomBitsForCompaction is BloomBitsForLevel for the SSTs compaction c
// writes: when its output level holds data, Monkey's allocation is made
// over the tree as it will be once c is done, without c's input files and
// with their entries in the output run. Counting the inputs where they
// are shared the budget with runs about to go: a fold of the whole tree
// whose upper runs held a quarter of the entries gave its output, the
// only run left, 8.5 bits per key of a 10-bit budget.
func BloomBitsForCompaction(v *Version, c *Compaction, o PickerOptions, avgBits float64, uniform bool) float64 {
	if !(avgBits > 0) {
		return 0
	}
	if uniform {
		return avgBits
	}
	if v == nil || len(v.Levels[c.OutputLevel]) == 0 {
		return closedFormBits(v, c.OutputLevel, o, avgBits)
	}
	inputs := make(map[*File]bool)
	var moved uint64
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			inputs[f] = true
			moved += f.Entries
		}
	}
	var entries []float64
	target := -1
	for l := range v.Levels {
		if l == c.OutputLevel && c.OutputRunID == 0 {
			target = len(entries) // a new run, the newest at its level
			entries = append(entries, float64(moved))
		}
		for _, r := range v.Levels[l] {
			var n uint64
			for _, f := range r.Files {
				if !inputs[f] {
					n += f.Entries
				}
			}
			if l == c.OutputLevel && r.ID == c.OutputRunID {
				target = len(entries)
				n += moved
			}
			entries = append(entries, float64(n))
		}
	}
	if b, ok := bitsOverRuns(entries, target, avgBits); ok {
		return b
	}
	return BloomBitsForLevel(v, c.OutputLevel, o, avgBits, false)
}

// bitsOverRuns returns the bits per key Monkey gives run target of runs
// holding entries, with avgBits per entry on average, clamped to
// [1, bloom.MaxRunBitsPerKey]; ok is false when there is no such run or
// no entry.
func bitsOverRuns(entries []float64, target int, avgBits float64) (bits float64, ok bool) {
	var total float64
	for _, n := range entries {
		total += n
	}
	if target < 0 || target >= len(entries) || total <= 0 {
		return 0, false
	}
	return clampBits(bloom.RunBits(entries, avgBits*total)[target]), true
}

// clampBits clamps b to [1, bloom.MaxRunBitsPerKey].
func clampBits(b float64) float64 { return min(max(b, 1), bloom.MaxRunBitsPerKey) }

// closedFormBits is BloomBitsForLevel for a target level without data:
// Monkey's closed form for the full shape of a tree of max(v's deepest
// non-empty level, level, 1) levels; level 0 gets level 1's bits.
func closedFormBits(v *Version, level int, o PickerOptions, avgBits float64) float64 {
	o = o.withDefaults()
	level = max(level, 1)
	deepest := -1
	if v != nil {
		deepest = v.DeepestNonEmpty()
	}
	levels := max(deepest, level, 1)
	perLevel := bloom.LevelBits(float64(o.SizeRatio), levels, o.RunsPerLevel, o.RunsAtLastLevel, avgBits)
	b := avgBits
	if perLevel != nil {
		b = perLevel[level-1]
	}
	return clampBits(b)
}
