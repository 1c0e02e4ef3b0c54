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
	o = o.withDefaults()
	clamp := func(b float64) float64 { return min(max(b, 1), bloom.MaxRunBitsPerKey) }
	// With data at the target level, allocate over the tree as it is: the
	// runs' real entry counts, so the filters' total memory matches the
	// budget even when the last level is not T times the one above it.
	if v != nil && len(v.Levels[level]) > 0 {
		var entries []float64
		var target int
		var total float64
		for l := range v.Levels {
			for _, r := range v.Levels[l] {
				if l == level && len(entries) >= target && target == 0 {
					target = len(entries) + 1 // 1-based: the newest run at level
				}
				n := float64(r.entries())
				entries = append(entries, n)
				total += n
			}
		}
		if total > 0 {
			bits := bloom.RunBits(entries, avgBits*total)
			return clamp(bits[target-1])
		}
	}
	// Otherwise assume the full shape Monkey's closed form describes.
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
	return clamp(b)
}
