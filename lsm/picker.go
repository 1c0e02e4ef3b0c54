package lsm

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"sync"

	"github.com/seed-d6fe07da/strata/bloom"
)

// The merge policy (DESIGN.md §4) is Dostoevsky's fluid LSM: one code path
// serves leveling (K = Z = 1), tiering (K = Z = T-1) and lazy leveling
// (K = T-1, Z = 1).
//
// Level 0 gets one run per memtable flush and is merged into level 1 once it
// holds L0Trigger runs. Of levels 1..L, L is the deepest non-empty level (the
// last level). A level may hold limit(i) runs, Z for the last level and K
// for the others, and (T-1)·T^(i-1)·BaseLevelSize bytes (its capacity). A
// level is due when it holds more runs than its limit or when its size
// reaches its capacity; its score is the larger of runs/(limit+1) and
// size/capacity, so a level is due exactly when its score is at least 1.
// The due level with the highest score is merged first, the shallower one
// on a tie.
//
// A due level i >= 1 is merged as follows:
//
//   - The last level, due only for its run count, merges all its runs in
//     place into one run, which keeps the newest input run's id: more data
//     below it would only grow the tree.
//   - The deepest possible level (NumLevels-1) also merges in place, since
//     the tree cannot grow; holding a single run, it is left alone.
//   - Otherwise level i moves into level i+1 (growing the tree when i is the
//     last level). A level holding one run with limit 1 (a leveled level over
//     capacity) moves a single file, chosen round-robin through the key
//     space by a per-level compaction pointer; any other level moves all its
//     runs, which bounds the work per merge to one level's worth.
//
// Where level i's data lands depends on limit(i+1), the limit the level
// will have afterwards (Z if it is or becomes the last level, else K):
//
//   - limit 1: level i+1 must stay one run. The output joins that run, and
//     the run's files overlapping the user-key range of the level-i inputs
//     are inputs too. If level i+1 transiently holds several runs (after a
//     manual merge or a change of options), they are merged in place first.
//   - limit > 1: the output is a new run at level i+1; nothing there is read.
//
// A merge that reads a single file and writes it to a deeper level, where
// nothing overlaps it, is a trivial move: the file is relinked, not
// rewritten.
//
// Simpler schemes considered: merging whole levels in leveled mode (what the
// first picker did) makes every merge into a big level rewrite all of it,
// so write amplification grows with the tree; partial merges bound a merge
// to about T+1 files. Tiered levels are moved whole because their runs
// overlap each other and a key range of one cannot move without the others.

// Defaults for PickerOptions fields left zero.
const (
	defaultSizeRatio     = 4
	defaultL0Trigger     = 4
	defaultBaseLevelSize = 64 << 20
)

// CompactionInput is a set of files from one run that a merge reads. Files
// is the whole run or, for a partial merge, a key-contiguous part of it.
type CompactionInput struct {
	Level int
	RunID uint64
	Files []*File
}

// Compaction describes one merge: the files it reads and where it writes.
type Compaction struct {
	// Inputs are the file sets read, newest data first (shallower levels
	// first, and within a level newer runs first).
	Inputs []CompactionInput
	// OutputLevel is the level the merged output is written to.
	OutputLevel int
	// OutputRunID is the run at OutputLevel the output joins (its files
	// that overlap the output are among the inputs); 0 means the output is
	// a new run, whose id the caller allocates (newer than every run).
	OutputRunID uint64
	// Bottommost is true when no data older than the inputs can exist for
	// the keys they cover (nothing below OutputLevel, and every run at
	// OutputLevel overlapping the inputs is an input), so tombstones that
	// no snapshot needs may be dropped.
	Bottommost bool
	// TrivialMove is true when the input files (one, or several that do
	// not overlap each other or the output level) can be moved to the
	// output level without rewriting it.
	TrivialMove bool
	// Reason says why the merge was picked, for metrics and tests.
	Reason string
}

// InputBytes returns the bytes the merge reads.
func (c *Compaction) InputBytes() uint64 {
	var n uint64
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			n += f.Size
		}
	}
	return n
}

// NumInputFiles returns the number of files the merge reads.
func (c *Compaction) NumInputFiles() int {
	n := 0
	for _, in := range c.Inputs {
		n += len(in.Files)
	}
	return n
}

// PickerOptions tunes the merge policy. Fields left zero take their
// defaults; Validate reports values that make no sense, which the picker
// also replaces by the defaults.
type PickerOptions struct {
	// SizeRatio is T, the capacity ratio between adjacent levels. Default 4.
	SizeRatio int
	// RunsPerLevel is K, the most runs a level above the last may hold.
	// Default 1 (leveling).
	RunsPerLevel int
	// RunsAtLastLevel is Z, the most runs the last level may hold.
	// Default 1.
	RunsAtLastLevel int
	// L0Trigger is the number of level-0 runs that starts a merge into
	// level 1. Default 4.
	L0Trigger int
	// BaseLevelSize is the capacity unit B in bytes: level i >= 1 holds
	// (T-1)*T^(i-1)*B. Default 64 MiB.
	BaseLevelSize uint64
}

// withDefaults returns a copy of o with zero or invalid fields replaced by
// their defaults.
func (o PickerOptions) withDefaults() PickerOptions {
	if o.SizeRatio < 2 {
		o.SizeRatio = defaultSizeRatio
	}
	if o.RunsPerLevel < 1 {
		o.RunsPerLevel = 1
	}
	if o.RunsAtLastLevel < 1 {
		o.RunsAtLastLevel = 1
	}
	if o.L0Trigger < 1 {
		o.L0Trigger = defaultL0Trigger
	}
	if o.BaseLevelSize == 0 {
		o.BaseLevelSize = defaultBaseLevelSize
	}
	return o
}

// Validate reports the first field that is set to a value the policy cannot
// use. Zero fields are valid: they take defaults.
func (o PickerOptions) Validate() error {
	switch {
	case o.SizeRatio < 0 || o.SizeRatio == 1:
		return fmt.Errorf("lsm: PickerOptions.SizeRatio %d: must be at least 2 (or 0 for the default)", o.SizeRatio)
	case o.RunsPerLevel < 0:
		return fmt.Errorf("lsm: PickerOptions.RunsPerLevel %d: must be at least 1 (or 0 for the default)", o.RunsPerLevel)
	case o.RunsAtLastLevel < 0:
		return fmt.Errorf("lsm: PickerOptions.RunsAtLastLevel %d: must be at least 1 (or 0 for the default)", o.RunsAtLastLevel)
	case o.L0Trigger < 0:
		return fmt.Errorf("lsm: PickerOptions.L0Trigger %d: must be at least 1 (or 0 for the default)", o.L0Trigger)
	}
	return nil
}

// LevelCapacity returns the bytes level may hold before it is due for a
// merge: (T-1)·T^(level-1)·BaseLevelSize, saturating at math.MaxUint64.
// Level 0 is bounded by its run count instead and has capacity 0.
func (o PickerOptions) LevelCapacity(level int) uint64 {
	if level < 1 {
		return 0
	}
	o = o.withDefaults()
	c := satMul(uint64(o.SizeRatio-1), o.BaseLevelSize)
	for range level - 1 {
		c = satMul(c, uint64(o.SizeRatio))
	}
	return c
}

// satMul returns a·b, or math.MaxUint64 if that overflows.
func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// RunLimit returns the most runs level may hold before it is due for a
// merge: Z if level is the deepest non-empty level of v or lies below it
// (so a merge into it makes it the last level), K above it. For level 0 it
// is L0Trigger-1.
func RunLimit(v *Version, level int, o PickerOptions) int {
	return runLimit(v.DeepestNonEmpty(), level, o.withDefaults())
}

// runLimit is RunLimit for a tree whose deepest non-empty level is last; o
// has its defaults.
func runLimit(last, level int, o PickerOptions) int {
	switch {
	case level <= 0:
		return o.L0Trigger - 1
	case level >= last:
		return o.RunsAtLastLevel
	default:
		return o.RunsPerLevel
	}
}

// Picker chooses merges. It keeps, per level, a compaction pointer so that
// the partial merges of a leveled level walk round-robin through its key
// space. A Picker is safe for concurrent use.
type Picker struct {
	opts PickerOptions // with defaults; BaseLevelSize changes only by SetBaseLevelSize

	mu sync.Mutex
	// ptr[l] is the largest user key of the file last moved out of level l
	// by a partial merge; the next one starts after it. Guarded by mu.
	ptr [NumLevels][]byte
	// hasPtr[l] says ptr[l] is set. Guarded by mu.
	hasPtr [NumLevels]bool
}

// NewPicker returns a picker for policy o. Zero or invalid fields of o take
// their defaults.
func NewPicker(o PickerOptions) *Picker {
	return &Picker{opts: o.withDefaults()}
}

// SetBaseLevelSize changes the capacity unit B of later picks (0 keeps the
// current one). Calls must not overlap Pick or PickManual; the database
// makes them from the goroutine that picks.
func (p *Picker) SetBaseLevelSize(b uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b > 0 {
		p.opts.BaseLevelSize = b
	}
}

// Options returns the picker's options with defaults filled in.
func (p *Picker) Options() PickerOptions { return p.opts }

// Pick returns a merge from a fresh Picker for o: see Picker.Pick. Without
// a long-lived picker, partial merges always start at a level's smallest
// keys.
func Pick(v *Version, o PickerOptions) *Compaction {
	return NewPicker(o).Pick(v)
}

// PickManual returns a manual merge of [start, end] from a fresh Picker for
// o: see Picker.PickManual.
func PickManual(v *Version, start, end []byte, o PickerOptions) *Compaction {
	return NewPicker(o).PickManual(v, start, end)
}

// Scores returns each level's score, indexed by level: for level 0 its runs
// divided by L0Trigger; for a level i >= 1 the larger of its runs divided by
// limit(i)+1 and its size divided by its capacity. A level with a score of
// at least 1 is due for a merge. Empty levels score 0.
func (p *Picker) Scores(v *Version) []float64 {
	s := make([]float64, NumLevels)
	last := v.DeepestNonEmpty()
	for l := range NumLevels {
		s[l] = p.score(v, last, l)
	}
	return s
}

func (p *Picker) score(v *Version, last, level int) float64 {
	runs := v.NumRuns(level)
	if level == 0 {
		return float64(runs) / float64(p.opts.L0Trigger)
	}
	if runs == 0 {
		return 0
	}
	byRuns := float64(runs) / float64(runLimit(last, level, p.opts)+1)
	bySize := float64(v.LevelSize(level)) / float64(p.opts.LevelCapacity(level))
	return max(byRuns, bySize)
}

// due reports whether level needs a merge, with exact integer comparisons
// (the scores only order the due levels), and which bound it broke.
func (p *Picker) due(v *Version, last, level int) (overRuns, overSize bool) {
	runs := v.NumRuns(level)
	if runs == 0 {
		return false, false
	}
	if level == 0 {
		return runs >= p.opts.L0Trigger, false
	}
	return runs > runLimit(last, level, p.opts), v.LevelSize(level) >= p.opts.LevelCapacity(level)
}

// Pick returns the next merge to run, or nil if the tree needs none: of
// the due levels, the one with the highest score (the shallower on a tie).
// A partial merge advances the level's compaction pointer, so callers
// should run what Pick returns.
func (p *Picker) Pick(v *Version) *Compaction { return p.pick(v, 0) }

// PickBelowLevel0 is Pick for a caller that leaves level 0 to another
// goroutine: it never returns a merge that reads level 0.
func (p *Picker) PickBelowLevel0(v *Version) *Compaction { return p.pick(v, 1) }

// PickLevel0 returns the merge of level 0 into level 1 when level 0 is due
// and that merge reads level 0 alone: level 1 then takes the output as a
// new run (its run limit is above 1), so the merge touches no file that a
// merge from level 1 down may read or write, and the database runs it on
// its own goroutine beside those. It returns nil otherwise, including when
// level 1 must stay one run and so is among the inputs, and when level 1
// already holds twice as many runs as its limit: its own merge is overdue,
// and level 0 waits for it (and writers, once level 0 is deep, for both),
// so a long merge below cannot leave level 1 to collect runs without
// bound. (Stopping at the limit itself slowed writers ten times as often
// in the peer workload, for runs a merge of level 1 takes in one go.)
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
	if v.NumRuns(1) >= 2*runLimit(last, 1, p.opts) {
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

// pickLevel returns the merge for due level, or nil if it has none to do.
func (p *Picker) pickLevel(v *Version, last, level int, overRuns, overSize bool) *Compaction {
	if level == 0 {
		return p.moveDown(v, last, 0, fmt.Sprintf("L0: %d runs", v.NumRuns(0)))
	}
	why := fmt.Sprintf("L%d: %d runs > %d", level, v.NumRuns(level), runLimit(last, level, p.opts))
	if overSize {
		why = fmt.Sprintf("L%d: %d bytes >= capacity %d", level, v.LevelSize(level), p.opts.LevelCapacity(level))
	}
	switch {
	case level == last && overRuns && !overSize:
		return mergeInPlace(v, level, why+", merged in place")
	case level+1 == NumLevels:
		return mergeInPlace(v, level, why+", merged in place at the deepest level")
	}
	return p.moveDown(v, last, level, why)
}

// moveDown returns the merge of level's data into level+1.
func (p *Picker) moveDown(v *Version, last, level int, why string) *Compaction {
	next := level + 1
	nextLimit := runLimit(last, next, p.opts)
	if nextLimit == 1 && v.NumRuns(next) > 1 {
		return mergeInPlace(v, next, fmt.Sprintf("L%d: %d runs > 1 before merging L%d into it, merged in place",
			next, v.NumRuns(next), level))
	}
	c := &Compaction{OutputLevel: next, Reason: why}
	if level >= 1 && v.NumRuns(level) == 1 && runLimit(last, level, p.opts) == 1 {
		r := v.Levels[level][0]
		c.Inputs = []CompactionInput{{Level: level, RunID: r.ID, Files: []*File{p.nextFile(level, r)}}}
		c.Reason += ", partial"
	} else {
		for _, r := range v.Levels[level] {
			c.Inputs = append(c.Inputs, CompactionInput{Level: level, RunID: r.ID, Files: r.Files})
		}
	}
	if nextLimit == 1 && v.NumRuns(next) == 1 {
		r := v.Levels[next][0]
		c.OutputRunID = r.ID
		if fs := inputRange(c.Inputs).runFiles(r); len(fs) > 0 {
			c.Inputs = append(c.Inputs, CompactionInput{Level: next, RunID: r.ID, Files: fs})
		}
	}
	if c.NumInputFiles() == 1 || disjointFromOneLevel(c, level) {
		// No file of the output level was added, so either none
		// overlaps the input or the output is a new run, which may lie
		// over older runs like any new run; and the inputs do not overlap
		// each other, so no key has two versions among them: the files
		// can be relinked as they are (sequential loads then write each
		// byte once per level, not once per merge).
		c.TrivialMove = true
	}
	c.Bottommost = bottommost(v, c)
	return c
}

// disjointFromOneLevel reports whether every input of c comes from level
// and no two input files' user-key ranges touch.
func disjointFromOneLevel(c *Compaction, level int) bool {
	var files []*File
	for _, in := range c.Inputs {
		if in.Level != level {
			return false
		}
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
// merge should move next: the first whose smallest key lies after the
// level's compaction pointer, wrapping around to the first file. It moves
// the pointer to that file's largest key. p.mu is held.
func (p *Picker) nextFile(level int, r *Run) *File {
	i := 0
	if p.hasPtr[level] {
		ptr := p.ptr[level]
		i = sort.Search(len(r.Files), func(k int) bool {
			return bytes.Compare(r.Files[k].Smallest.UserKey, ptr) > 0
		})
		if i == len(r.Files) {
			i = 0
		}
	}
	f := r.Files[i]
	p.ptr[level] = append(p.ptr[level][:0], f.Largest.UserKey...)
	p.hasPtr[level] = true
	return f
}

// mergeInPlace returns the merge of all of level's runs into one run at
// level, or nil if it holds fewer than two runs.
func mergeInPlace(v *Version, level int, why string) *Compaction {
	if v.NumRuns(level) < 2 {
		return nil
	}
	// The output takes the place, and the id, of the newest input run
	// (whose files are all inputs): a run that reaches the level while the
	// merge runs (a level-0 merge on its own goroutine) holds newer data
	// and has a larger id, and must keep sorting first.
	c := &Compaction{OutputLevel: level, OutputRunID: v.Levels[level][0].ID, Reason: why}
	for _, r := range v.Levels[level] {
		c.Inputs = append(c.Inputs, CompactionInput{Level: level, RunID: r.ID, Files: r.Files})
	}
	c.Bottommost = bottommost(v, c)
	return c
}

// PickForReads returns a merge that lowers the number of sorted runs a read
// visits, or nil when no merge can: when level 0 holds at most one run over
// an otherwise empty tree and every deeper level holds at most one run. It
// is for a tree that needs no merge by its shape but whose readers pay for
// its overlapping runs (lazy leveling and tiering leave up to K runs per
// level by design). Level 0's runs merge with every run of the shallowest
// non-empty level below into one new run there; with level 0 empty, the
// shallowest level holding several runs merges them in place. The output
// may leave its level over capacity, which Pick then handles as usual.
//
// With skipLevel0 it leaves level 0 out, for a caller that has another
// goroutine merging it.
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
				c.Inputs = append(c.Inputs, CompactionInput{Level: l, RunID: r.ID, Files: r.Files})
			}
		}
		c.Bottommost = bottommost(v, c)
		return c
	}
	for l := 1; l < NumLevels; l++ {
		if n := v.NumRuns(l); n > 1 {
			return mergeInPlace(v, l, fmt.Sprintf("reads: L%d %d runs merged in place", l, n))
		}
	}
	return nil
}

// PickLevelsForReads returns the merge of the shallowest non-empty level
// into the next non-empty one, for a tree that PickForReads has nothing
// for (level 0 empty, one run per level) but that still spreads its data
// over several levels, or nil when it holds at most one. The upper run
// joins the lower one, together with the files of the lower run that its
// range overlaps, so a read afterwards visits one run fewer. Each such
// merge is the cheapest that removes a level: the upper level is the
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
			Inputs:      []CompactionInput{{Level: upper, RunID: up.ID, Files: up.Files}},
			Reason:      fmt.Sprintf("reads: L%d into L%d", upper, l),
		}
		if fs := inputRange(c.Inputs).runFiles(low); len(fs) > 0 {
			c.Inputs = append(c.Inputs, CompactionInput{Level: l, RunID: low.ID, Files: fs})
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

// PickManual returns a merge of every file whose range overlaps [start, end]
// (nil bounds are unbounded) together with, transitively, every file whose
// range overlaps those, written to the deepest non-empty level D (at least
// 1): the output joins D's run if D holds exactly one, else it is a new
// run. Because the closure takes in every run overlapping the range, the
// merge is always bottommost, so afterwards the range holds one version of
// each live key (barring snapshots) and no needless tombstones. Manual
// merges are never trivial moves: rewriting is their point.
//
// It returns nil if no file overlaps the range (or start > end), and also
// when everything that overlaps already lies in a single run at level D:
// that data was last written by a merge into one run with nothing older
// below it. Tombstones such a run kept (from a merge that was not
// bottommost, or a trivial move) stay until a later merge rewrites it.
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
				c.Inputs = append(c.Inputs, CompactionInput{Level: l, RunID: r.ID, Files: fs})
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

// bottommost reports whether c's output is the oldest data for its keys:
// no level below the output level holds data, and every file at the output
// level overlapping the inputs' user-key range is an input.
func bottommost(v *Version, c *Compaction) bool {
	for l := c.OutputLevel + 1; l < NumLevels; l++ {
		if v.NumRuns(l) > 0 {
			return false
		}
	}
	in := make(map[*File]bool)
	for _, ci := range c.Inputs {
		for _, f := range ci.Files {
			in[f] = true
		}
	}
	rng := inputRange(c.Inputs)
	for _, r := range v.Levels[c.OutputLevel] {
		for _, f := range rng.runFiles(r) {
			if !in[f] {
				return false
			}
		}
	}
	return true
}

// userRange is an inclusive range of user keys; an open end is unbounded.
type userRange struct {
	lo, hi         []byte
	openLo, openHi bool
}

// inputRange returns the smallest range of user keys covering every input
// file. inputs must hold at least one file.
func inputRange(inputs []CompactionInput) userRange {
	var rng userRange
	first := true
	for _, in := range inputs {
		for _, f := range in.Files {
			if first {
				rng = userRange{lo: f.Smallest.UserKey, hi: f.Largest.UserKey}
				first = false
				continue
			}
			rng.extend(f)
		}
	}
	return rng
}

// overlaps reports whether f's user-key range meets rng.
func (rng userRange) overlaps(f *File) bool {
	return (rng.openHi || bytes.Compare(f.Smallest.UserKey, rng.hi) <= 0) &&
		(rng.openLo || bytes.Compare(f.Largest.UserKey, rng.lo) >= 0)
}

// extend widens rng to cover f and reports whether it grew.
func (rng *userRange) extend(f *File) bool {
	grew := false
	if !rng.openLo && bytes.Compare(f.Smallest.UserKey, rng.lo) < 0 {
		rng.lo = f.Smallest.UserKey
		grew = true
	}
	if !rng.openHi && bytes.Compare(f.Largest.UserKey, rng.hi) > 0 {
		rng.hi = f.Largest.UserKey
		grew = true
	}
	return grew
}

// runFiles returns the files of r overlapping rng: a contiguous part of
// r.Files, since a run's files are disjoint and sorted.
func (rng userRange) runFiles(r *Run) []*File {
	files := r.Files
	i := 0
	if !rng.openLo {
		i = sort.Search(len(files), func(k int) bool {
			return bytes.Compare(files[k].Largest.UserKey, rng.lo) >= 0
		})
	}
	j := i
	for j < len(files) && rng.overlaps(files[j]) {
		j++
	}
	return files[i:j]
}

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
				n := float64(r.Entries())
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
