package lsm

import (
	"bytes"
	"fmt"
	"sort"
)

// scores returns each level's score, indexed by level: for level 0 its runs
// divided by L0Trigger; for a level i >= 1 the larger of its runs divided by
// limit(i)+1 and its size divided by its capacity. A level with a score of
// at least 1 is due for a compaction. Empty levels score 0.
func (p *Picker) scores(v *Version) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := make([]float64, NumLevels)
	last := v.DeepestNonEmpty()
	for l := range NumLevels {
		s[l] = p.score(v, last, l)
	}
	return s
}

// score is level's score in scores; p.mu is held.
func (p *Picker) score(v *Version, last, level int) float64 {
	runs := v.NumRuns(level)
	if level == 0 {
		return float64(runs) / float64(p.mu.opts.L0Trigger)
	}
	if runs == 0 {
		return 0
	}
	byRuns := float64(runs) / float64(runLimit(last, level, p.mu.opts)+1)
	bySize := float64(v.levelSize(level)) / float64(p.mu.opts.levelCapacity(level))
	return max(byRuns, bySize)
}

// due reports whether level needs a compaction, with exact integer comparisons
// (the scores only order the due levels), and which bound it broke. p.mu
// is held.
func (p *Picker) due(v *Version, last, level int) (overRuns, overSize bool) {
	runs := v.NumRuns(level)
	if runs == 0 {
		return false, false
	}
	if level == 0 {
		return runs >= p.mu.opts.L0Trigger, false
	}
	return runs > runLimit(last, level, p.mu.opts), v.levelSize(level) >= p.mu.opts.levelCapacity(level)
}

// Pick returns the next compaction to run, or nil if the tree needs none: of
// the due levels, the one with the highest score (the shallower on a tie).
// A partial compaction advances the level's compaction pointer, so callers
// should run what Pick returns.
func (p *Picker) Pick(v *Version) *Compaction { return p.pick(v, 0) }

// PickBelowLevel0 is Pick for a caller that leaves level 0 to another
// goroutine: it never returns a compaction that reads level 0.
func (p *Picker) PickBelowLevel0(v *Version) *Compaction { return p.pick(v, 1) }

// PickLevel0 returns the compaction of level 0 into level 1 when level 0 is due
// and that compaction reads level 0 alone: level 1 then takes the output as a
// new run (its run limit is above 1), so the compaction touches no file that a
// compaction from level 1 down may read or write, and the database runs it on
// its own goroutine beside those. It returns nil otherwise, including when
// level 1 must stay one run and so is among the inputs, and when level 1
// already holds twice as many runs as its limit: its own compaction is overdue,
// and level 0 waits for it (and writers, once level 0 is deep, for both),
// so a long compaction below cannot leave level 1 to collect runs without
// bound. The bound is twice the limit, not the limit itself: a compaction of
// level 1 takes all its runs in one go, so the runs past the limit cost it
// little, while stopping level 0 at the limit holds writers back far more
// often.
func (p *Picker) PickLevel0(v *Version) *Compaction {
	if v == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last := v.DeepestNonEmpty()
	if overRuns, _ := p.due(v, last, 0); !overRuns {
		return nil
	}
	if v.NumRuns(1) >= 2*runLimit(last, 1, p.mu.opts) {
		return nil
	}
	c := p.pickLevel(v, last, 0, true, false)
	for _, in := range c.Inputs {
		if in.Level != 0 {
			return nil
		}
	}
	if c.OutputRunID != 0 {
		return nil
	}
	return c
}

// pick is Pick over the levels from minLevel down.
func (p *Picker) pick(v *Version, minLevel int) *Compaction {
	if v == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last := v.DeepestNonEmpty()
	type candidate struct {
		level              int
		score              float64
		overRuns, overSize bool
	}
	var cands []candidate
	for l := minLevel; l < NumLevels; l++ {
		overRuns, overSize := p.due(v, last, l)
		if overRuns || overSize {
			cands = append(cands, candidate{l, p.score(v, last, l), overRuns, overSize})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	for _, c := range cands {
		if comp := p.pickLevel(v, last, c.level, c.overRuns, c.overSize); comp != nil {
			return comp
		}
	}
	return nil
}

// pickLevel returns the compaction for due level, or nil if it has none to do.
// p.mu is held.
func (p *Picker) pickLevel(v *Version, last, level int, overRuns, overSize bool) *Compaction {
	if level == 0 {
		return p.moveDown(v, last, 0, fmt.Sprintf("L0: %d runs", v.NumRuns(0)))
	}
	why := fmt.Sprintf("L%d: %d runs > %d", level, v.NumRuns(level), runLimit(last, level, p.mu.opts))
	if overSize {
		why = fmt.Sprintf("L%d: %d bytes >= capacity %d", level, v.levelSize(level), p.mu.opts.levelCapacity(level))
	}
	switch {
	case level == last && overRuns && !overSize:
		return compactInPlace(v, level, why+", merged in place")
	case level+1 == NumLevels:
		return compactInPlace(v, level, why+", merged in place at the deepest level")
	}
	return p.moveDown(v, last, level, why)
}

// moveDown returns the compaction of level's data into level+1. p.mu is held.
func (p *Picker) moveDown(v *Version, last, level int, why string) *Compaction {
	next := level + 1
	nextLimit := runLimit(last, next, p.mu.opts)
	if nextLimit == 1 && v.NumRuns(next) > 1 {
		return compactInPlace(v, next, fmt.Sprintf("L%d: %d runs > 1 before merging L%d into it, merged in place",
			next, v.NumRuns(next), level))
	}
	c := &Compaction{OutputLevel: next, Reason: why}
	if level >= 1 && v.NumRuns(level) == 1 && runLimit(last, level, p.mu.opts) == 1 {
		r := v.Levels[level][0]
		c.Inputs = []CompactionInput{{Level: level, runID: r.ID, Files: []*File{p.nextFile(level, r)}}}
		c.Reason += ", partial"
	} else {
		for _, r := range v.Levels[level] {
			c.Inputs = append(c.Inputs, CompactionInput{Level: level, runID: r.ID, Files: r.Files})
		}
	}
	if nextLimit == 1 && v.NumRuns(next) == 1 {
		r := v.Levels[next][0]
		c.OutputRunID = r.ID
		if fs := inputRange(c.Inputs).runFiles(r); len(fs) > 0 {
			c.Inputs = append(c.Inputs, CompactionInput{Level: next, runID: r.ID, Files: fs})
		}
	}
	if c.numInputFiles() == 1 || disjointFromOneLevel(c, level) {
		// No file of the output level was added, so either none
		// overlaps the input or the output is a new run, which may lie
		// over older runs like any new run; and the inputs do not overlap
		// each other, so no key has two versions among them: the files
		// can be relinked as they are (sequential loads then write each
		// byte once per level, not once per compaction).
		c.TrivialMove = true
	}
	c.Bottommost = bottommost(v, c)
	return c
}

// disjointFromOneLevel reports whether every input of c comes from level
// and no two input files' user-key ranges touch.
func disjointFromOneLevel(c *Compaction, level int) bool {
	for _, in := range c.Inputs {
		if in.Level != level {
			return false
		}
	}
	return disjointFiles(c.Inputs)
}

// disjointFiles reports whether inputs hold at least one file and no two
// of their files' user-key ranges touch.
func disjointFiles(inputs []CompactionInput) bool {
	var files []*File
	for _, in := range inputs {
		files = append(files, in.Files...)
	}
	sort.Slice(files, func(i, j int) bool {
		return bytes.Compare(files[i].Smallest.UserKey, files[j].Smallest.UserKey) < 0
	})
	for i := 1; i < len(files); i++ {
		if bytes.Compare(files[i-1].Largest.UserKey, files[i].Smallest.UserKey) >= 0 {
			return false
		}
	}
	return len(files) > 0
}

// nextFile returns the file of r, the only run of level, that a partial
// compaction should move next: the first whose smallest key lies after the
// level's compaction pointer, wrapping around to the first file. It moves
// the pointer to that file's largest key. p.mu is held.
func (p *Picker) nextFile(level int, r *Run) *File {
	i := 0
	if p.mu.hasPtr[level] {
		ptr := p.mu.ptr[level]
		i = sort.Search(len(r.Files), func(k int) bool {
			return bytes.Compare(r.Files[k].Smallest.UserKey, ptr) > 0
		})
		if i == len(r.Files) {
			i = 0
		}
	}
	f := r.Files[i]
	p.mu.ptr[level] = append(p.mu.ptr[level][:0], f.Largest.UserKey...)
	p.mu.hasPtr[level] = true
	return f
}
