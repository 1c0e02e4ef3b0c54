package db

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/vfs"
)

// CheckpointInfo describes a checkpoint that Checkpoint wrote.
type CheckpointInfo struct {
	// Dir is the checkpoint's directory.
	Dir string
	// Seq is the seqnum of the newest write the checkpoint holds: it
	// holds every write up to it and none after, as a snapshot taken at
	// that instant would see them. It is at least the seqnum of every
	// write acknowledged before Checkpoint was called.
	Seq uint64
	// Tables are the names of the SST files in Dir, sorted. The other
	// files of a checkpoint are its manifest and CURRENT, both small.
	// A database never reuses a table's name for other contents, so two
	// checkpoints of one database that list a name hold the same file.
	Tables []string
	// LinkedBytes and CopiedBytes count the table bytes that were hard
	// linked into Dir and those that had to be copied (the filesystem
	// could not link them: Dir on another device, say).
	LinkedBytes, CopiedBytes int64
}

// Since returns the tables c holds that prev does not, which a backup
// that holds prev must upload to hold c as well, and the tables prev held
// that c no longer needs. Both checkpoints must be of the same database;
// a nil prev holds nothing.
func (c *CheckpointInfo) Since(prev *CheckpointInfo) (added, dropped []string) {
	if prev == nil {
		return slices.Clone(c.Tables), nil
	}
	for _, t := range c.Tables {
		if _, ok := slices.BinarySearch(prev.Tables, t); !ok {
			added = append(added, t)
		}
	}
	for _, t := range prev.Tables {
		if _, ok := slices.BinarySearch(c.Tables, t); !ok {
			dropped = append(dropped, t)
		}
	}
	return added, dropped
}

// checkpointTmpSuffix names the directory a checkpoint is built in before
// it is renamed into place, so that a directory with the checkpoint's
// name is always complete.
const checkpointTmpSuffix = ".checkpoint-tmp"

// Checkpoint writes a consistent copy of the database into dir, a new
// directory, and returns what it holds. The copy is a database of its
// own: Open it to read it or to go on from it (restore), or copy it
// elsewhere; a checkpoint of it is a checkpoint too.
//
// Checkpoint flushes the memtable, then takes the tree as it stands: the
// checkpoint holds every write acknowledged before the call and is
// consistent as of one instant (CheckpointInfo.Seq). Its SSTs are hard
// links to the database's own where the filesystem allows (a table is
// never modified, so a link costs no space until the database deletes its
// name), copies otherwise. Writes go on meanwhile, and compactions too: the
// files the checkpoint takes are kept until it is done.
//
// The checkpoint is durable when Checkpoint returns. It is built in
// dir+".checkpoint-tmp" and renamed to dir at the end, so a crash leaves
// either a complete dir or none (and that temporary directory, which the
// next Checkpoint to dir removes). dir must not exist.
func (d *DB) Checkpoint(dir string) (*CheckpointInfo, error) {
	if _, err := d.fs.Stat(dir); err == nil {
		return nil, fmt.Errorf("strata: checkpoint: %s: %w", dir, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	if err := d.Flush(); err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	v := d.mu.version
	v.Ref()
	seq, nextFile := d.mu.flushedSeq, d.mu.nextFileNum
	d.mu.Unlock()
	defer v.Unref()

	info := &CheckpointInfo{Dir: dir, Seq: uint64(seq)}
	tmp := dir + checkpointTmpSuffix
	if err := d.removeCheckpointTmp(tmp); err != nil {
		return nil, err
	}
	if err := d.fs.MkdirAll(tmp); err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	// The checkpoint's manifest names the tables as the version places
	// them; it has no WAL, as every write it holds is in a table.
	snap := &manifest.VersionEdit{
		LogNum:      nextFile + 1,
		NextFileNum: nextFile + 2,
		LastSeq:     seq,
		PageSize:    uint64(d.opts.PageSize),
	}
	for level, runs := range v.Levels {
		for _, r := range runs {
			for _, f := range r.Files {
				snap.NewFiles = append(snap.NewFiles, manifest.NewFile{Level: level, Meta: f.FileMeta})
				name := base.MakeFilename(base.FileTypeTable, f.FileNum)
				linked, err := linkOrCopy(d.fs, d.path(name), filepath.Join(tmp, name))
				if err != nil {
					return nil, fmt.Errorf("strata: checkpoint: %w", err)
				}
				if linked {
					info.LinkedBytes += int64(f.Size)
				} else {
					info.CopiedBytes += int64(f.Size)
				}
				info.Tables = append(info.Tables, name)
			}
		}
	}
	slices.Sort(info.Tables)
	// manifest.Create syncs the directory (making the links durable),
	// then writes CURRENT and syncs the directory again.
	w, err := manifest.Create(d.fs, tmp, nextFile, snap)
	if err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	if err := d.fs.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	if err := d.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("strata: checkpoint: %w", err)
	}
	return info, nil
}

// removeCheckpointTmp removes tmp, the directory of an interrupted
// checkpoint, if it exists and holds nothing but files a checkpoint makes.
func (d *DB) removeCheckpointTmp(tmp string) error {
	names, err := d.fs.List(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("strata: checkpoint: %w", err)
	}
	for _, n := range names {
		if t, _ := base.ParseFilename(n); t != base.FileTypeTable && t != base.FileTypeManifest && t != base.FileTypeCurrent && t != base.FileTypeTemp {
			return fmt.Errorf("strata: checkpoint: %s holds %s, which a checkpoint does not make: remove it by hand", tmp, n)
		}
	}
	for _, n := range names {
		if err := d.fs.Remove(filepath.Join(tmp, n)); err != nil {
			return fmt.Errorf("strata: checkpoint: %w", err)
		}
	}
	if err := d.fs.Remove(tmp); err != nil {
		return fmt.Errorf("strata: checkpoint: %w", err)
	}
	return nil
}

// linkOrCopy makes dst a hard link to src, or where the filesystem refuses
// a copy of it, synced. It reports whether it linked.
func linkOrCopy(fsys vfs.FS, src, dst string) (linked bool, err error) {
	lerr := fsys.Link(src, dst)
	switch {
	case lerr == nil:
		return true, nil
	case errors.Is(lerr, fs.ErrExist):
		return false, lerr // never copy over an existing file
	}
	in, err := fsys.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	out, err := fsys.Create(dst)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fsys.Remove(dst)
		return false, fmt.Errorf("copy %s: %w", src, err)
	}
	return false, nil
}
