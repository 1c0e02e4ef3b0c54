package lsm

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"sync"
)

// The merge policy (DESIGN.md §4) is Dostoevsky's fluid LSM: one code path
// serves leveling (K = Z = 1), tiering (K = Z = T-1) and lazy leveling
// (K = T-1, Z = 1).
//
// Level 0 gets one run per memtable flush and is compacted into level 1 once it
// holds L0Trigger runs. Of levels 1..L, L is the deepest non-empty level (the
// last level). A level may hold limit(i) runs, Z for the last level and K
// for the others, and (T-1)·T^(i-1)·BaseLevelSize bytes (its capacity). A
// level is due when it holds more runs than its limit or when its size
// reaches its capacity; its score is the larger of runs/(limit+1) and
// size/capacity, so a level is due exactly when its score is at least 1.
// The due level with the highest score is compacted first, the shallower one
// on a tie.
//
// A due level i >= 1 is compacted as follows:
//
//   - The last level, due only for its run count, compacts all its runs in
//     place into one run, which keeps the newest input run's id: more data
//     below it would only grow the tree.
//   - The deepest possible level (NumLevels-1) also compacts in place, since
//     the tree cannot grow; holding a single run, it is left alone.
//   - Otherwise level i moves into level i+1 (growing the tree when i is the
//     last level). A level holding one run with limit 1 (a leveled level over
//     capacity) moves a single file, chosen round-robin through the key
//     space by a per-level compaction pointer; any other level moves all its
//     runs, which bounds the work per compaction to one level's worth.
//
// Where level i's data lands depends on limit(i+1), the limit the level
// will have afterwards (Z if it is or becomes the last level, else K):
//
//   - limit 1: level i+1 must stay one run. The output joins that run, and
//     the run's files overlapping the user-key range of the level-i inputs
//     are inputs too. If level i+1 transiently holds several runs (after a
//     manual compaction or a change of options), they are compacted in place first.
//   - limit > 1: the output is a new run at level i+1; nothing there is read.
//
// A compaction whose input files all come from one level and overlap neither
// each other nor anything it would join at the deeper output level is a
// trivial move: the files are relinked, not rewritten.
//
// Simpler schemes considered: compacting whole levels in leveled mode makes
// every compaction into a big level rewrite all of it, so write amplification
// grows with the tree; partial compactions bound a compaction to about T+1 files.
// Tiered levels are moved whole because their runs overlap each other and a
// key range of one cannot move without the others.

// Defaults for PickerOptions fields left zero.
const (
	defaultSizeRatio     = 4
	defaultL0Trigger     = 4
	defaultBaseLevelSize = 64 << 20
)

// CompactionInput is a set of files from one run that a compaction reads. Files
// is the whole run or, for a partial compaction, a key-contiguous part of it.
type CompactionInput struct {
	Level int
	runID uint64
	Files []*File
}

// RunID returns the id of the run the input's files belong to.
func (in CompactionInput) RunID() uint64 { return in.runID }

// Compaction describes one compaction: the files it reads and where it writes.
type Compaction struct {
	// Inputs are the file sets read, newest data first (shallower levels
	// first, and within a level newer runs first).
	Inputs []CompactionInput
	// OutputLevel is the level the compacted output is written to.
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
	// Reason says why the compaction was picked, for metrics and tests.
	Reason string
}

// InputBytes returns the bytes the compaction reads.
func (c *Compaction) InputBytes() uint64 {
	var n uint64
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			n += f.Size
		}
	}
	return n
}

// numInputFiles returns the number of files the compaction reads.
func (c *Compaction) numInputFiles() int {
	n := 0
	for _, in := range c.Inputs {
		n += len(in.Files)
	}
	return n
}

// PickerOptions tunes the merge policy. Fields left zero take their
// defaults; validate reports values that make no sense, which the picker
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
	// L0Trigger is the number of level-0 runs that starts a compaction into
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

// validate reports the first field that is set to a value the policy cannot
// use. Zero fields are valid: they take defaults.
func (o PickerOptions) validate() error {
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

// levelCapacity returns the bytes level may hold before it is due for a
// compaction: (T-1)·T^(level-1)·BaseLevelSize, saturating at math.MaxUint64.
// Level 0 is bounded by its run count instead and has capacity 0.
func (o PickerOptions) levelCapacity(level int) uint64 {
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

// runLimit returns the most runs level may hold before it is due for a
// compaction in a tree whose deepest non-empty level is last: Z if level is last
// or lies below it (so a compaction into it makes it the last level), K above
// it. For level 0 it is L0Trigger-1. o has its defaults.
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

// Picker chooses compactions. It keeps, per level, a compaction pointer so that
// the partial compactions of a leveled level walk round-robin through its key
// space. A Picker is safe for concurrent use.
type Picker struct {
	mu struct {
		sync.Mutex
		// opts is the policy, with defaults; SetBaseLevelSize changes
		// its BaseLevelSize.
		opts PickerOptions
		// ptr[l] is the largest user key of the file last moved out of
		// level l by a partial compaction; the next one starts after it.
		ptr [NumLevels][]byte
		// hasPtr[l] says ptr[l] is set.
		hasPtr [NumLevels]bool
	}
}

// NewPicker returns a picker for policy o. Zero or invalid fields of o take
// their defaults.
func NewPicker(o PickerOptions) *Picker {
	p := &Picker{}
	p.mu.opts = o.withDefaults()
	return p
}

// SetBaseLevelSize changes the capacity unit B of later picks (0 keeps the
// current one). Picks read the options under the picker's lock, so it may
// be called beside them.
func (p *Picker) SetBaseLevelSize(b uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b > 0 {
		p.mu.opts.BaseLevelSize = b
	}
}

// compactInPlace returns the compaction of all of level's runs into one run at
// level, or nil if it holds fewer than two runs.
func compactInPlace(v *Version, level int, why string) *Compaction {
	if v.NumRuns(level) < 2 {
		return nil
	}
	// The output takes the place, and the id, of the newest input run
	// (whose files are all inputs): a run that reaches the level while the
	// compaction runs (a level-0 compaction on its own goroutine) holds newer data
	// and has a larger id, and must keep sorting first.
	c := &Compaction{OutputLevel: level, OutputRunID: v.Levels[level][0].ID, Reason: why}
	for _, r := range v.Levels[level] {
		c.Inputs = append(c.Inputs, CompactionInput{Level: level, runID: r.ID, Files: r.Files})
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
