package db

import (
	"errors"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// Failpoints: the steps at which crash tests kill the process.
const (
	fpFlushSynced     = "flush-synced"     // a flushed SST is durable, the manifest does not name it yet
	fpCompactSynced   = "compact-synced"   // compaction outputs are durable, the manifest does not name them yet
	fpManifestFailed  = "manifest-failed"  // a manifest append failed (a torn record may be on disk)
	fpManifestApplied = "manifest-applied" // an edit is durable, obsolete files not yet deleted
	fpWALRotated      = "wal-rotated"      // a new WAL exists on disk, the old one is not closed yet
)

func (d *DB) failpoint(name string) {
	if d.opts.failpoint != nil {
		d.opts.failpoint(name)
	}
}

// errEditRejected marks a version edit the tree rejected: a bug, never
// written to the manifest, and it stops writes.
var errEditRejected = errors.New("strata: version edit rejected")

// logAndApplyLocked makes edit durable in the manifest, then installs the
// new version and read state; install runs under d.mu just before the swap
// (to drop a flushed memtable in the same step). The edit is applied to
// the version before it is written, so one the tree would reject never
// becomes durable (it would stop every later Open). After a failed write
// the manifest may end in a torn edit, or in this one, synced or not: the
// next call starts a new manifest first, and the files this edit added
// are kept until then. d.mu is held on entry and exit and released for the
// manifest write.
func (d *DB) logAndApplyLocked(edit *manifest.VersionEdit, install func()) error {
	// versionMu orders manifest records and version installs the same way;
	// it is taken before mu.
	d.mu.Unlock()
	d.versionMu.Lock()
	defer d.versionMu.Unlock()
	d.mu.Lock()
	nv, err := d.mu.version.Apply(edit)
	if err != nil {
		return fmt.Errorf("%w: %v", errEditRejected, err)
	}
	if d.mu.manifestBroken {
		if err := d.rotateManifestLocked(); err != nil {
			nv.Discard()
			return err
		}
		d.mu.manifestBroken = false
		d.removeOrphansLocked()
	}
	d.mu.Unlock()
	err = d.manifest.Append(edit)
	d.mu.Lock()
	if err != nil {
		d.failpoint(fpManifestFailed)
		nv.Discard()
		d.mu.manifestBroken = true
		live := make(map[base.FileNum]bool)
		for _, f := range d.mu.version.Files() {
			live[f.FileNum] = true
		}
		for _, nf := range edit.NewFiles {
			if !live[nf.Meta.FileNum] {
				d.mu.orphans = append(d.mu.orphans, nf.Meta.FileNum)
			}
		}
		return fmt.Errorf("write manifest: %w", err)
	}
	d.failpoint(fpManifestApplied)
	old := d.mu.version
	d.mu.version = nv
	if install != nil {
		install()
	}
	d.installReadStateLocked()
	d.mu.Unlock()
	old.Unref()
	d.mu.Lock()
	if d.manifest.Size() > d.opts.maxManifestSize {
		if err := d.rotateManifestLocked(); err != nil {
			// The edit is durable and installed; the next one retries.
			d.mu.manifestBroken = true
		}
	}
	return nil
}

// removeOrphansLocked removes the files of edits whose manifest write
// failed, once a new manifest that does not name them is durable. d.mu is
// held and released for the I/O.
func (d *DB) removeOrphansLocked() {
	orphans := d.mu.orphans
	d.mu.orphans = nil
	d.mu.Unlock()
	for _, num := range orphans {
		d.fs.Remove(d.path(base.MakeFilename(base.FileTypeTable, num)))
	}
	d.mu.Lock()
}

// rotateManifestLocked writes a new manifest holding one snapshot edit of
// the current state, points CURRENT at it and removes the old one. d.mu and
// versionMu are held; mu is released for the I/O.
func (d *DB) rotateManifestLocked() error {
	num := d.mu.nextFileNum
	d.mu.nextFileNum++
	snap := &manifest.VersionEdit{LogNum: d.mu.logNum, NextFileNum: d.mu.nextFileNum, LastSeq: d.mu.lastSeq, PageSize: uint64(d.opts.PageSize)}
	if len(d.mu.imms) > 0 {
		snap.LogNum = d.mu.imms[0].logNum
	}
	for level, runs := range d.mu.version.Levels {
		for _, r := range runs {
			for _, f := range r.Files {
				snap.NewFiles = append(snap.NewFiles, manifest.NewFile{Level: level, Meta: f.FileMeta})
			}
		}
	}
	d.mu.Unlock()
	w, err := manifest.Create(d.fs, d.dirname, num, snap)
	d.mu.Lock()
	if err != nil {
		return fmt.Errorf("rotate manifest: %w", err)
	}
	old := d.manifest
	d.manifest = w
	d.mu.Unlock()
	old.Close()
	d.fs.Remove(d.path(base.MakeFilename(base.FileTypeManifest, old.FileNum())))
	d.mu.Lock()
	return nil
}

// allocFileNum hands out a new file number.
func (d *DB) allocFileNum() base.FileNum {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.mu.nextFileNum
	d.mu.nextFileNum++
	return n
}
