package db

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/sst"
)

// CheckReport says what Check read and what it found wrong.
type CheckReport struct {
	// Files, Pages and Entries count the SSTs, pages and point entries
	// read.
	Files, Pages, Entries uint64
	// Problems lists every problem found, one error each: corruption
	// (wrapping ErrCorruption, naming the file and the place) or the I/O
	// error that stopped the check of a file.
	Problems []error
}

// Check verifies the database as it stands, while reads and writes go on:
//
//   - every live SST, read whole outside the buffer pool: each page's
//     checksum and structure, entries in order with seqnums in the file's
//     range and readable values, the B+Tree's order and separators, the
//     Bloom filter (no false negatives), and its counts, seqnum range and
//     key range against the manifest's record of it;
//   - the runs: the files of each run in order and disjoint;
//   - the manifest against the directory: the manifest on disk replays to
//     the tree in memory, every file it names exists with the size it
//     records, and the WAL in use exists (not with Options.ReadOnly: a
//     writer beside it may have moved the manifest on);
//   - seqnums: no file holds one newer than the last write.
//
// It returns the report and, if anything is wrong, an error joining every
// problem (errors.Is(err, ErrCorruption) holds when one is corruption). It
// reads every byte of the database: run it from a tool or a test, not on a
// hot path.
func (d *DB) Check() (CheckReport, error) {
	var rep CheckReport
	rs := d.loadReadState()
	if rs == nil {
		return rep, ErrClosed
	}
	defer rs.unref()
	v := rs.v
	lastSeq := base.SeqNum(d.visibleSeq.Load())
	problem := func(err error) { rep.Problems = append(rep.Problems, err) }

	for level, runs := range v.Levels {
		for _, r := range runs {
			checkRun(level, r, problem)
		}
	}
	for _, f := range v.Files() {
		rep.Files++
		name := base.MakeFilename(base.FileTypeTable, f.FileNum)
		size, err := d.fs.Stat(d.path(name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problem(base.Corruptf(name, "", "named by the manifest but missing"))
			continue
		case err != nil:
			problem(fmt.Errorf("strata: check %s: %w", name, err))
			continue
		case uint64(size) != f.Size:
			problem(base.Corruptf(name, "", "%d bytes, the manifest records %d", size, f.Size))
			continue
		}
		e, err := d.tables.fileEntry(f)
		if err != nil {
			problem(err)
			continue
		}
		st, err := e.r.Verify()
		rep.Pages += st.Pages
		rep.Entries += st.Entries
		if err != nil {
			problem(err)
			continue
		}
		checkFileMeta(name, f, e.r.Properties(), lastSeq, problem)
	}
	d.checkManifest(v, problem)
	return rep, errors.Join(rep.Problems...)
}

// checkRun reports files of a run that are out of order or overlap.
func checkRun(level int, r *lsm.Run, problem func(error)) {
	for i, f := range r.Files {
		name := base.MakeFilename(base.FileTypeTable, f.FileNum)
		if base.CompareInternal(f.Smallest, f.Largest) > 0 {
			problem(base.Corruptf(name, "", "smallest key %s above largest %s", f.Smallest, f.Largest))
		}
		if i > 0 {
			if prev := r.Files[i-1]; base.CompareInternal(prev.Largest, f.Smallest) >= 0 {
				problem(base.Corruptf(name, "", "overlaps %s in run %d at level %d",
					base.MakeFilename(base.FileTypeTable, prev.FileNum), r.ID, level))
			}
		}
		// A Get of the file's first key must be sent to the file.
		if g := r.Find(f.Smallest.UserKey); g != f {
			problem(base.Corruptf(name, "", "a lookup of its smallest key %q in run %d at level %d finds another file", f.Smallest.UserKey, r.ID, level))
		}
	}
}

// checkFileMeta compares what the file says of itself with the manifest's
// record and the database's last seqnum.
func checkFileMeta(name string, f *lsm.File, p sst.Properties, lastSeq base.SeqNum, problem func(error)) {
	switch {
	case p.Entries != f.Entries:
		problem(base.Corruptf(name, "", "%d entries, the manifest records %d", p.Entries, f.Entries))
	case p.SmallestSeq != f.SmallestSeq || p.LargestSeq != f.LargestSeq:
		problem(base.Corruptf(name, "", "seqnums [%d, %d], the manifest records [%d, %d]", p.SmallestSeq, p.LargestSeq, f.SmallestSeq, f.LargestSeq))
	case p.LargestSeq > lastSeq:
		problem(base.Corruptf(name, "", "seqnum %d is newer than the last write, %d", p.LargestSeq, lastSeq))
	case p.Entries > 0 && (base.CompareInternal(p.Smallest, f.Smallest) < 0 || base.CompareInternal(p.Largest, f.Largest) > 0):
		// The manifest's range may be wider (it covers range deletions),
		// never narrower.
		problem(base.Corruptf(name, "", "keys [%s, %s] outside the manifest's range [%s, %s]", p.Smallest, p.Largest, f.Smallest, f.Largest))
	}
}

// checkManifest replays the manifest on disk and compares it with v, the
// tree in memory, and checks that the WAL in use exists.
func (d *DB) checkManifest(v *lsm.Version, problem func(error)) {
	d.versionMu.Lock()
	defer d.versionMu.Unlock()
	d.mu.Lock()
	broken, cur, logNum := d.mu.manifestBroken, d.mu.version, d.mu.logNum
	closed := d.mu.closed
	d.mu.Unlock()
	if closed {
		return
	}
	if d.opts.ReadOnly {
		// No WAL in use, and a writer beside this handle may have moved
		// the manifest on: check the files only.
		return
	}
	if _, err := d.fs.Stat(d.path(base.MakeFilename(base.FileTypeLog, logNum))); err != nil {
		problem(fmt.Errorf("strata: check: the WAL in use: %w", err))
	}
	if broken || cur != v {
		// A failed manifest write may have left an edit the tree does not
		// hold, or an edit went in since v was read: nothing to compare.
		return
	}
	state, _, err := manifest.Recover(d.fs, d.dirname)
	if err != nil {
		problem(err)
		return
	}
	onDisk := make(map[base.FileNum]int, state.NumFiles())
	for level := 0; level < state.NumLevels(); level++ {
		for _, m := range state.Files(level) {
			onDisk[m.FileNum] = level
		}
	}
	inMemory := 0
	for level, runs := range v.Levels {
		for _, r := range runs {
			for _, f := range r.Files {
				inMemory++
				if l, ok := onDisk[f.FileNum]; !ok || l != level {
					problem(base.Corruptf("manifest", "", "file %d is at level %d in the tree, the manifest on disk has it at %d (present %v)", f.FileNum, level, l, ok))
				}
			}
		}
	}
	if inMemory != len(onDisk) {
		problem(base.Corruptf("manifest", "", "the manifest on disk names %d files, the tree holds %d", len(onDisk), inMemory))
	}
}
