package lsm

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
	// TrivialMove is true when the single input file can be moved to the
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

// PickerOptions tunes the merge policy.
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

// Pick returns the next merge to run, or nil if the tree needs none.
//
// This first policy keeps the number of runs bounded: when level 0 holds
// L0Trigger runs, every level-0 run and the level-1 run are merged into one
// new level-1 run.
func Pick(v *Version, o PickerOptions) *Compaction {
	if o.L0Trigger <= 0 {
		o.L0Trigger = 4
	}
	if v.NumRuns(0) < o.L0Trigger {
		return nil
	}
	c := &Compaction{OutputLevel: 1, Reason: "L0 runs"}
	for _, l := range []int{0, 1} {
		for _, r := range v.Levels[l] {
			c.Inputs = append(c.Inputs, CompactionInput{Level: l, RunID: r.ID, Files: r.Files})
		}
	}
	c.Bottommost = v.DeepestNonEmpty() <= 1
	return c
}

// PickManual returns a merge of every file whose range overlaps [start, end]
// (nil bounds are unbounded) together with, transitively, every file whose
// range overlaps those, written to the deepest level: afterwards the range
// holds one version of each live key. It returns nil if no file overlaps.
func PickManual(v *Version, start, end []byte, o PickerOptions) *Compaction {
	return nil
}
