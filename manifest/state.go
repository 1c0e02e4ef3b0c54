package manifest

import (
	"math"
	"slices"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// State is the live file set accumulated from edits, with the scalar fields
// the edits carry. A State is not safe for concurrent use.
type State struct {
	// LogNum is the oldest live WAL; 0 until an edit sets it.
	LogNum base.FileNum
	// NextFileNum is the next file number to allocate; 0 until set.
	NextFileNum base.FileNum
	// LastSeq is the last sequence number used; 0 until set.
	LastSeq base.SeqNum
	// PageSize is the page size of the database's SSTs; 0 until set (a
	// manifest written before it was recorded).
	PageSize uint64

	levels  [maxLevels]map[base.FileNum]FileMeta // nil until a level holds a file
	levelOf map[base.FileNum]int                 // level of every live file
}

// NewState returns an empty State.
func NewState() *State {
	return &State{levelOf: make(map[base.FileNum]int)}
}

// Apply applies e to s: deletions first, then additions, then the scalar
// fields that e sets. It checks the whole edit before changing anything, so
// a rejected edit leaves s as it was. Deleting a file that is not at the
// named level, adding a FileNum that is live (and not deleted by the same
// edit) or added twice, a level outside [0, maxLevels), file number 0,
// smallest key after largest, smallest seqnum after largest, or bloom bits
// that are negative, infinite or NaN are corruption errors. The keys of
// added files are copied.
func (s *State) Apply(e *VersionEdit) error {
	if err := validateEdit(e); err != nil {
		return err
	}
	deleted := make(map[base.FileNum]bool, len(e.DeletedFiles))
	for _, d := range e.DeletedFiles {
		if deleted[d.FileNum] {
			return base.Corruptf(editLabel, "", "file %d deleted twice", d.FileNum)
		}
		lvl, ok := s.levelOf[d.FileNum]
		if !ok {
			return base.Corruptf(editLabel, "", "deleted file %d is not live", d.FileNum)
		}
		if lvl != d.Level {
			return base.Corruptf(editLabel, "", "deleted file %d is at level %d, not %d", d.FileNum, lvl, d.Level)
		}
		deleted[d.FileNum] = true
	}
	added := make(map[base.FileNum]bool, len(e.NewFiles))
	for _, nf := range e.NewFiles {
		fn := nf.Meta.FileNum
		if added[fn] {
			return base.Corruptf(editLabel, "", "file %d added twice", uint64(fn))
		}
		if _, live := s.levelOf[fn]; live && !deleted[fn] {
			return base.Corruptf(editLabel, "", "added file %d is already live", uint64(fn))
		}
		added[fn] = true
	}

	for _, d := range e.DeletedFiles {
		delete(s.levels[d.Level], d.FileNum)
		delete(s.levelOf, d.FileNum)
	}
	for _, nf := range e.NewFiles {
		m := nf.Meta
		m.Smallest = m.Smallest.Clone()
		m.Largest = m.Largest.Clone()
		if s.levels[nf.Level] == nil {
			s.levels[nf.Level] = make(map[base.FileNum]FileMeta)
		}
		s.levels[nf.Level][m.FileNum] = m
		s.levelOf[m.FileNum] = nf.Level
	}
	if e.LogNum != 0 {
		s.LogNum = e.LogNum
	}
	if e.NextFileNum != 0 {
		s.NextFileNum = e.NextFileNum
	}
	if e.LastSeq != 0 {
		s.LastSeq = e.LastSeq
	}
	if e.PageSize != 0 {
		s.PageSize = e.PageSize
	}
	return nil
}

// validateEdit checks what can be checked of an edit on its own: what
// decode would reject, and per-file invariants. Writer uses it so that the
// manifest never holds an edit that recovery would refuse.
func validateEdit(e *VersionEdit) error {
	for _, d := range e.DeletedFiles {
		if d.Level < 0 || d.Level >= maxLevels {
			return base.Corruptf(editLabel, "", "deleted file %d: level %d outside [0, %d)", d.FileNum, d.Level, maxLevels)
		}
	}
	for _, nf := range e.NewFiles {
		m := &nf.Meta
		fn := uint64(m.FileNum)
		switch {
		case nf.Level < 0 || nf.Level >= maxLevels:
			return base.Corruptf(editLabel, "", "added file %d: level %d outside [0, %d)", fn, nf.Level, maxLevels)
		case m.FileNum == 0:
			return base.Corruptf(editLabel, "", "added file has number 0")
		case m.Smallest.EncodedLen() > maxKeyLen || m.Largest.EncodedLen() > maxKeyLen:
			return base.Corruptf(editLabel, "", "added file %d: key longer than %d bytes", fn, maxKeyLen)
		case base.CompareInternal(m.Smallest, m.Largest) > 0:
			return base.Corruptf(editLabel, "", "added file %d: smallest key %s after largest %s", fn, m.Smallest, m.Largest)
		case m.GlobalSeq != 0 && (m.SmallestSeq != m.GlobalSeq || m.LargestSeq != m.GlobalSeq):
			return base.Corruptf(editLabel, "", "ingested file %d: seqnums %d..%d, not its global seqnum %d", fn, m.SmallestSeq, m.LargestSeq, m.GlobalSeq)
		case m.SmallestSeq > m.LargestSeq:
			return base.Corruptf(editLabel, "", "added file %d: smallest seqnum %d after largest %d", fn, m.SmallestSeq, m.LargestSeq)
		case math.IsNaN(m.BloomBitsPerKey) || math.IsInf(m.BloomBitsPerKey, 0) || m.BloomBitsPerKey < 0:
			return base.Corruptf(editLabel, "", "added file %d: bloom bits per key %v", fn, m.BloomBitsPerKey)
		}
	}
	return nil
}

// Snapshot returns one edit that recreates s when applied to a new State:
// its scalar fields and every live file, level by level in Files order. The
// edit shares key bytes with s; neither may be modified.
func (s *State) Snapshot() *VersionEdit {
	e := &VersionEdit{LogNum: s.LogNum, NextFileNum: s.NextFileNum, LastSeq: s.LastSeq, PageSize: s.PageSize}
	for level := range s.NumLevels() {
		for _, m := range s.Files(level) {
			e.NewFiles = append(e.NewFiles, NewFile{Level: level, Meta: m})
		}
	}
	return e
}

// Files returns the live files of a level, newest run first (Run
// descending), files of one run by smallest key, ties by file number. The
// slice is new; the FileMetas' keys are shared with s and must not be
// modified. A level outside [0, maxLevels) has no files.
func (s *State) Files(level int) []FileMeta {
	if level < 0 || level >= maxLevels || len(s.levels[level]) == 0 {
		return nil
	}
	files := make([]FileMeta, 0, len(s.levels[level]))
	for _, m := range s.levels[level] {
		files = append(files, m)
	}
	slices.SortFunc(files, func(a, b FileMeta) int {
		switch {
		case a.Run > b.Run:
			return -1
		case a.Run < b.Run:
			return 1
		}
		if c := base.CompareInternal(a.Smallest, b.Smallest); c != 0 {
			return c
		}
		switch {
		case a.FileNum < b.FileNum:
			return -1
		case a.FileNum > b.FileNum:
			return 1
		}
		return 0
	})
	return files
}

// NumLevels returns one more than the deepest level holding a file, 0 when
// there are no files.
func (s *State) NumLevels() int {
	for level := maxLevels - 1; level >= 0; level-- {
		if len(s.levels[level]) > 0 {
			return level + 1
		}
	}
	return 0
}

// NumFiles returns the number of live files over all levels.
func (s *State) NumFiles() int { return len(s.levelOf) }
