package lsm

import (
	"fmt"
)

// PickForReads returns a compaction that lowers the number of sorted runs a read
// visits, or nil when no compaction can: when level 0 holds at most one run over
// an otherwise empty tree and every deeper level holds at most one run. It
// is for a tree that needs no compaction by its shape but whose readers pay for
// its overlapping runs (lazy leveling and tiering leave up to K runs per
// level by design). Level 0's runs are compacted with every run of the shallowest
// non-empty level below into one new run there; with level 0 empty, the
// shallowest level holding several runs compacts them in place. The output
// may leave its level over capacity, which Pick then handles as usual.
//
// With skipLevel0 it leaves level 0 out, for a caller that has another
// goroutine compacting it.
func (p *Picker) PickForReads(v *Version, skipLevel0 bool) *Compaction {
	if v == nil {
		return nil
	}
	if n0 := v.NumRuns(0); n0 > 0 && !skipLevel0 {
		target := 0
		for l := 1; l < NumLevels && target == 0; l++ {
			if v.NumRuns(l) > 0 {
				target = l
			}
		}
		if target == 0 {
			if n0 == 1 {
				return nil
			}
			target = 1
		}
		c := &Compaction{OutputLevel: target, Reason: fmt.Sprintf("reads: L0 %d runs and L%d %d runs into one L%d run", n0, target, v.NumRuns(target), target)}
		for _, l := range []int{0, target} {
			for _, r := range v.Levels[l] {
				c.Inputs = append(c.Inputs, CompactionInput{Level: l, runID: r.ID, Files: r.Files})
			}
		}
		c.Bottommost = bottommost(v, c)
		return c
	}
	for l := 1; l < NumLevels; l++ {
		if n := v.NumRuns(l); n > 1 {
			return compactInPlace(v, l, fmt.Sprintf("reads: L%d %d runs merged in place", l, n))
		}
	}
	return nil
}

// PickLevelsForReads returns the compaction of the shallowest non-empty level
// into the next non-empty one, for a tree that PickForReads has nothing
// for (level 0 empty, one run per level) but that still spreads its data
// over several levels, or nil when it holds at most one. The upper run
// joins the lower one, together with the files of the lower run that its
// range overlaps, so a read afterwards visits one run fewer. Each such
// compaction is the cheapest that removes a level: the upper level is the
// smallest, and the lower run is rewritten only where they overlap. The
// output may leave its level over capacity, which Pick then handles.
func (p *Picker) PickLevelsForReads(v *Version) *Compaction {
	if v == nil || v.NumRuns(0) > 0 {
		return nil
	}
	upper := -1
	for l := 1; l < NumLevels; l++ {
		switch n := v.NumRuns(l); {
		case n > 1:
			return nil
		case n == 0:
			continue
		case upper < 0:
			upper = l
			continue
		}
		up, low := v.Levels[upper][0], v.Levels[l][0]
		c := &Compaction{
			OutputLevel: l,
			OutputRunID: low.ID,
			Inputs:      []CompactionInput{{Level: upper, runID: up.ID, Files: up.Files}},
			Reason:      fmt.Sprintf("reads: L%d into L%d", upper, l),
		}
		if fs := inputRange(c.Inputs).runFiles(low); len(fs) > 0 {
			c.Inputs = append(c.Inputs, CompactionInput{Level: l, runID: low.ID, Files: fs})
		} else {
			// The runs do not overlap: the upper files join the lower run
			// as they are.
			c.TrivialMove = true
		}
		c.Bottommost = bottommost(v, c)
		return c
	}
	return nil
}

// PickFold returns the compaction of every run above the deepest non-empty
// level into that level's single run, with the files of that run the
// upper runs overlap: afterwards a read visits one run (and the memtables).
// It is for a tree whose writes have stopped. Folding level by level, as
// PickForReads and PickLevelsForReads do, rewrites each intermediate level
// once for every level folded into it; one fold writes each byte once, and
// its output is final, as no later writes will refill the upper levels.
//
// It returns nil when the tree is already a single run, when the deepest
// level holds several runs (tiering there: PickForReads folds them), and
// with skipLevel0 when level 0 holds runs (another goroutine has level 0).
// When the upper runs overlap nothing and each other, nothing needs
// rewriting and the compaction is a trivial move.
func (p *Picker) PickFold(v *Version, skipLevel0 bool) *Compaction {
	if v == nil || (skipLevel0 && v.NumRuns(0) > 0) {
		return nil
	}
	last := v.DeepestNonEmpty()
	if last <= 0 || v.NumRuns(last) != 1 {
		return nil
	}
	c := &Compaction{OutputLevel: last, OutputRunID: v.Levels[last][0].ID}
	for l := range last {
		for _, r := range v.Levels[l] {
			c.Inputs = append(c.Inputs, CompactionInput{Level: l, runID: r.ID, Files: r.Files})
		}
	}
	if len(c.Inputs) == 0 {
		return nil
	}
	upper := len(c.Inputs)
	low := v.Levels[last][0]
	if fs := inputRange(c.Inputs).runFiles(low); len(fs) > 0 {
		c.Inputs = append(c.Inputs, CompactionInput{Level: last, runID: low.ID, Files: fs})
	}
	c.Reason = fmt.Sprintf("reads: %d runs above L%d folded into it", upper, last)
	if len(c.Inputs) == upper && (upper == 1 || disjointFiles(c.Inputs)) {
		c.TrivialMove = true
	}
	c.Bottommost = bottommost(v, c)
	return c
}

// The runs above the last level must hold at least 1/spaceFoldDivisor of
// its bytes or entries for FoldFreesSpace: a tenth, the ratio between the
// last two levels of a leveled tree with T = 10 (goleveldb's and
// RocksDB's), so a tree whose writes have stopped is left at most about 1.1
// times the size of its live data when every entry above the last level
// overwrites one in it.
const spaceFoldDivisor = 10

// FoldFreesSpace reports whether fold, a compaction PickFold returned for v,
// is worth running for the disk space it may free, without readers paying
// for it: whether its inputs above the last level hold at least a tenth of
// the last level's bytes, or of its entries (deletions are small, but each
// may free a value below). Each of those entries may overwrite or delete one
// below, and the fold keeps one version of each key no snapshot needs
// apart. It is a ratio of sizes, not a count of what is dead: new keys
// count as much as overwrites (the fold then frees little, but leaves
// reads one run), and range deletions count by their size. The bound also
// bounds the cost: a fold rewrites the last level's overlapping files, at
// most about eleven times what the writes since the last fold left above
// it, as a T = 10 leveled tree rewrites its last level.
func FoldFreesSpace(v *Version, fold *Compaction) bool {
	var upperBytes, upperEntries uint64
	for _, in := range fold.Inputs {
		if in.Level < fold.OutputLevel {
			for _, f := range in.Files {
				upperBytes += f.Size
				upperEntries += f.Entries
			}
		}
	}
	var lastEntries uint64
	for _, r := range v.Levels[fold.OutputLevel] {
		lastEntries += r.entries()
	}
	return upperBytes > 0 && (upperBytes*spaceFoldDivisor >= v.levelSize(fold.OutputLevel) ||
		upperEntries*spaceFoldDivisor >= lastEntries)
}
