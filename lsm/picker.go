package lsm

// Compaction describes one merge: the runs it reads and where it writes.
type Compaction struct {
	// Inputs are the runs read, newest first.
	Inputs []*Run
	// InputLevels holds the level of each input run.
	InputLevels []int
	// OutputLevel is the level the merged run is written to.
	OutputLevel int
	// Bottommost is true when no level below OutputLevel holds data, so
	// tombstones that no snapshot needs may be dropped.
	Bottommost bool
}

// PickerOptions tunes the merge policy.
type PickerOptions struct {
	// L0Trigger is the number of level-0 runs that starts a merge.
	L0Trigger int
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
	c := &Compaction{OutputLevel: 1}
	for _, l := range []int{0, 1} {
		for _, r := range v.Levels[l] {
			c.Inputs = append(c.Inputs, r)
			c.InputLevels = append(c.InputLevels, l)
		}
	}
	c.Bottommost = v.DeepestNonEmpty() <= 1
	return c
}
