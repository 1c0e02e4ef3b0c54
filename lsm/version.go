// Package lsm owns the shape of the tree: which files form which sorted runs
// at which levels (a Version), how edits change it, and which compaction to run
// next.
//
// Package db is Strata's API; lsm is its internal machinery and exports only
// what db calls. Applications import db and tune the tree through
// db.Options, never through this package.
//
// A Version is immutable once built and reference counted. Readers hold a
// reference while they use it; each File counts the versions that name it,
// and when the last such version is released the file becomes obsolete and
// the owner's callback deletes it. Files are therefore never removed while a
// reader might still open them.
package lsm

import (
	"bytes"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// NumLevels is the number of levels a tree may have.
const NumLevels = 8

// File is one SST as the tree sees it.
type File struct {
	manifest.FileMeta
	// life is shared by every File value describing the same SST (a file
	// moved to another level without rewriting gets a new File with the
	// same life), so the SST is obsolete only when no version names it
	// under any level.
	life *fileLife
}

type fileLife struct {
	// refs counts the versions that include the file.
	refs atomic.Int32
	// handle is the owner's open-file object (the db's table reader),
	// cached so a lookup does not search a table of open files.
	handle atomic.Pointer[any]
}

// Handle returns the value stored by SetHandle, or nil.
func (f *File) Handle() any {
	if p := f.life.handle.Load(); p != nil {
		return *p
	}
	return nil
}

// SetHandle caches the owner's open-file object for f (shared by every File
// value of the same SST).
func (f *File) SetHandle(h any) { f.life.handle.Store(&h) }

// Run is a sorted run: files with disjoint key ranges, in key order.
type Run struct {
	ID    uint64
	Files []*File
}

// size returns the bytes of the run's files.
func (r *Run) size() uint64 {
	var n uint64
	for _, f := range r.Files {
		n += f.Size
	}
	return n
}

// entries returns the entries in the run's files.
func (r *Run) entries() uint64 {
	var n uint64
	for _, f := range r.Files {
		n += f.Entries
	}
	return n
}

// Find returns the file of the run whose range may hold key, or nil. A
// file whose largest key is a range deletion's exclusive end at key holds
// nothing of key: the next file, which starts at key, does.
func (r *Run) Find(key []byte) *File {
	i := sort.Search(len(r.Files), func(i int) bool {
		l := r.Files[i].Largest
		c := bytes.Compare(l.UserKey, key)
		return c > 0 || c == 0 && !l.IsExclusiveEnd()
	})
	if i < len(r.Files) && bytes.Compare(r.Files[i].Smallest.UserKey, key) <= 0 {
		return r.Files[i]
	}
	return nil
}

// Version is an immutable list of runs per level. Levels[l] holds level l's
// runs newest first.
type Version struct {
	Levels [NumLevels][]*Run

	refs       atomic.Int32
	onObsolete func(*File)
}

// WithoutLevel0Upto returns a view of v for choosing compactions, and for
// nothing else (it is not reference counted): v without the level-0 runs
// whose ids are at most id, which a running compaction reads. The runs
// flushed since have larger ids and are in the view.
func (v *Version) WithoutLevel0Upto(id uint64) *Version {
	nv := &Version{Levels: v.Levels}
	nv.Levels[0] = nil
	for _, r := range v.Levels[0] {
		if r.ID > id {
			nv.Levels[0] = append(nv.Levels[0], r)
		}
	}
	return nv
}

// newVersion returns an empty version. onObsolete is called (outside any
// lock of the package) for each file whose last referencing version is
// released.
func newVersion(onObsolete func(*File)) *Version {
	v := &Version{onObsolete: onObsolete}
	v.refs.Store(1)
	return v
}

// Ref adds a reference.
func (v *Version) Ref() { v.refs.Add(1) }

// Unref drops a reference; the last one releases the version's files.
func (v *Version) Unref() {
	n := v.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("lsm: version refcount below zero")
	}
	for _, level := range v.Levels {
		for _, r := range level {
			for _, f := range r.Files {
				if f.life.refs.Add(-1) == 0 && v.onObsolete != nil {
					v.onObsolete(f)
				}
			}
		}
	}
}

// Discard releases a version that was never installed (its edit could not
// be made durable): the counts of its files drop back, and none becomes
// obsolete, since their owner keeps the files that may still be named on
// disk. It takes the place of Unref for such a version.
func (v *Version) Discard() {
	if v.refs.Add(-1) != 0 {
		panic("lsm: Discard of a version in use")
	}
	for _, f := range v.Files() {
		f.life.refs.Add(-1)
	}
}

// Files returns every file of the version.
func (v *Version) Files() []*File {
	var out []*File
	for _, level := range v.Levels {
		for _, r := range level {
			out = append(out, r.Files...)
		}
	}
	return out
}

// NumRuns returns the number of runs at level.
func (v *Version) NumRuns(level int) int { return len(v.Levels[level]) }

// levelSize returns the bytes at level.
func (v *Version) levelSize(level int) uint64 {
	var n uint64
	for _, r := range v.Levels[level] {
		n += r.size()
	}
	return n
}

// DeepestNonEmpty returns the deepest level holding a run, or -1.
func (v *Version) DeepestNonEmpty() int {
	for l := NumLevels - 1; l >= 0; l-- {
		if len(v.Levels[l]) > 0 {
			return l
		}
	}
	return -1
}

// Apply returns a new version: v with the edit's files added and removed.
// The new version holds one reference. v is unchanged.
func (v *Version) Apply(e *manifest.VersionEdit) (*Version, error) {
	type key struct {
		level int
		num   base.FileNum
	}
	deleted := make(map[key]bool, len(e.DeletedFiles))
	lives := make(map[base.FileNum]*fileLife) // of deleted files, for moves
	for _, d := range e.DeletedFiles {
		if d.Level < 0 || d.Level >= NumLevels {
			return nil, fmt.Errorf("lsm: edit deletes file %d at bad level %d", d.FileNum, d.Level)
		}
		deleted[key{d.Level, d.FileNum}] = true
	}
	nv := newVersion(v.onObsolete)
	runs := make(map[key]*Run) // (level, run id) -> run in nv
	for l := range v.Levels {
		for _, r := range v.Levels[l] {
			var kept []*File
			for _, f := range r.Files {
				if deleted[key{l, f.FileNum}] {
					delete(deleted, key{l, f.FileNum})
					lives[f.FileNum] = f.life
					continue
				}
				kept = append(kept, f)
			}
			if len(kept) > 0 {
				nr := &Run{ID: r.ID, Files: kept}
				nv.Levels[l] = append(nv.Levels[l], nr)
				runs[key{l, base.FileNum(r.ID)}] = nr
			}
		}
	}
	for k := range deleted {
		return nil, fmt.Errorf("lsm: edit deletes file %d absent from level %d", k.num, k.level)
	}
	for _, nf := range e.NewFiles {
		if nf.Level < 0 || nf.Level >= NumLevels {
			return nil, fmt.Errorf("lsm: edit adds file %d at bad level %d", nf.Meta.FileNum, nf.Level)
		}
		life := lives[nf.Meta.FileNum]
		if life == nil {
			life = &fileLife{}
		}
		f := &File{FileMeta: nf.Meta, life: life}
		k := key{nf.Level, base.FileNum(nf.Meta.Run)}
		r := runs[k]
		if r == nil {
			r = &Run{ID: nf.Meta.Run}
			runs[k] = r
			nv.Levels[nf.Level] = append(nv.Levels[nf.Level], r)
		}
		r.Files = append(r.Files, f)
	}
	for l := range nv.Levels {
		for _, r := range nv.Levels[l] {
			sort.Slice(r.Files, func(i, j int) bool {
				return base.CompareInternal(r.Files[i].Smallest, r.Files[j].Smallest) < 0
			})
			for i := 1; i < len(r.Files); i++ {
				if base.CompareInternal(r.Files[i-1].Largest, r.Files[i].Smallest) >= 0 {
					return nil, fmt.Errorf("lsm: run %d at level %d: files %d and %d overlap",
						r.ID, l, r.Files[i-1].FileNum, r.Files[i].FileNum)
				}
			}
		}
		sort.SliceStable(nv.Levels[l], func(i, j int) bool { return nv.Levels[l][i].ID > nv.Levels[l][j].ID })
	}
	for _, f := range nv.Files() {
		f.life.refs.Add(1)
	}
	return nv, nil
}

// FromState builds a version holding the files recorded in a recovered
// manifest state.
func FromState(s *manifest.State, onObsolete func(*File)) (*Version, error) {
	e := s.Snapshot()
	empty := newVersion(onObsolete)
	return empty.Apply(e)
}
