package lsm

import (
	"bytes"
)

// PickManual returns a compaction of every file whose range overlaps [start, end]
// (nil bounds are unbounded) together with, transitively, every file whose
// range overlaps those, written to the deepest non-empty level D (at least
// 1): the output joins D's run if D holds exactly one, else it is a new
// run. Because the closure takes in every run overlapping the range, the
// compaction is always bottommost, so afterwards the range holds one version of
// each live key (barring snapshots) and no needless tombstones. Manual
// compactions are never trivial moves: rewriting is their point.
//
// It returns nil if no file overlaps the range (or start > end), and also
// when everything that overlaps already lies in a single run at level D:
// that data was last written by a compaction into one run with nothing older
// below it. Tombstones such a run kept (from a compaction that was not
// bottommost, or a trivial move) stay until a later compaction rewrites it.
func (p *Picker) PickManual(v *Version, start, end []byte) *Compaction {
	if v == nil {
		return nil
	}
	rng := userRange{lo: start, hi: end, openLo: start == nil, openHi: end == nil}
	if !rng.openLo && !rng.openHi && bytes.Compare(start, end) > 0 {
		return nil
	}
	for widened := true; widened; {
		widened = false
		for l := range v.Levels {
			for _, r := range v.Levels[l] {
				for _, f := range rng.runFiles(r) {
					if rng.extend(f) {
						widened = true
					}
				}
			}
		}
	}
	out := max(v.DeepestNonEmpty(), 1)
	c := &Compaction{OutputLevel: out, Reason: "manual"}
	for l := range v.Levels {
		for _, r := range v.Levels[l] {
			if fs := rng.runFiles(r); len(fs) > 0 {
				c.Inputs = append(c.Inputs, CompactionInput{Level: l, runID: r.ID, Files: fs})
			}
		}
	}
	if len(c.Inputs) == 0 || (len(c.Inputs) == 1 && c.Inputs[0].Level == out) {
		return nil
	}
	if v.NumRuns(out) == 1 {
		c.OutputRunID = v.Levels[out][0].ID
	}
	c.Bottommost = bottommost(v, c)
	return c
}
