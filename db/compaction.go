package db

import (
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/internal/merge"
	"github.com/seed-d6fe07da/strata/internal/rangedel"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
)

// compactLocked runs merge c: it streams the input runs through a heap
// merge, writes the surviving entries as one new run of files at the output
// level, and installs the result with one manifest edit. The inputs are
// deleted when the last version naming them is released. d.mu is held on
// entry and exit, released for the I/O.
func (d *DB) compactLocked(c *lsm.Compaction) error {
	snapshots := d.snapshotSeqsLocked()
	d.mu.Unlock()
	metas, bytesIn, err := d.runCompaction(c, snapshots)
	d.mu.Lock()
	if err != nil {
		return err
	}
	edit := &manifest.VersionEdit{NextFileNum: d.nextFileNum}
	for _, in := range c.Inputs {
		for _, f := range in.Files {
			edit.DeletedFiles = append(edit.DeletedFiles, manifest.DeletedFile{Level: in.Level, FileNum: f.FileNum})
		}
	}
	var bytesOut uint64
	for _, m := range metas {
		edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: c.OutputLevel, Meta: m})
		bytesOut += m.Size
	}
	if err := d.logAndApplyLocked(edit, nil); err != nil {
		return err
	}
	d.stats.compactions++
	d.stats.compactBytesIn += bytesIn
	d.stats.compactBytesOut += bytesOut
	return nil
}

func (d *DB) runCompaction(c *lsm.Compaction, snapshots []base.SeqNum) ([]manifest.FileMeta, uint64, error) {
	var children []base.InternalIterator
	var tombs []rangedel.Tombstone
	for _, in := range c.Inputs {
		children = append(children, newRunIter(d.tables, &lsm.Run{ID: in.RunID, Files: in.Files}))
		for _, f := range in.Files {
			e, err := d.tables.entry(f.FileNum)
			if err != nil {
				return nil, 0, fmt.Errorf("compaction: %w", err)
			}
			for _, fr := range e.rangeDels.Fragments() {
				for _, sq := range fr.Seqs {
					tombs = append(tombs, rangedel.Tombstone{Start: fr.Start, End: fr.End, Seq: sq})
				}
			}
		}
	}
	bytesIn := c.InputBytes()
	mi := merge.NewIterator(children...)
	defer mi.Close()
	ci := lsm.NewCompactionIter(mi, snapshots, c.Bottommost)
	ci.SetRangeDels(rangedel.NewSet(tombs, base.MaxSeqNum))
	out := newRunWriter(d, d.opts.TargetFileSize, true)
	out.frags = ci.OutputRangeDels()
	for ci.Next() {
		if err := out.add(ci.Key(), ci.Value(), false); err != nil {
			out.abort()
			return nil, 0, fmt.Errorf("compaction: %w", err)
		}
	}
	if err := ci.Error(); err != nil {
		out.abort()
		return nil, 0, fmt.Errorf("compaction: %w", err)
	}
	metas, err := out.finish()
	if err != nil {
		return nil, 0, fmt.Errorf("compaction: %w", err)
	}
	return metas, bytesIn, nil
}
