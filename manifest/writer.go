package manifest

import (
	"fmt"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// formatVersion is the first byte of every manifest record's payload.
const formatVersion = 1

// Writer appends edits to a manifest file. It is not safe for concurrent
// use; the db serialises edits.
type Writer struct {
	num    base.FileNum
	w      *wal.Writer
	buf    []byte // encoding scratch
	err    error  // sticky: set by a failed Append, or by Close
	closed bool
}

// Create writes a new manifest MANIFEST-num in dir whose first record is
// snapshot (normally State.Snapshot()), fsyncs it and the directory, and
// then points CURRENT at it. Until Create returns nil the previous manifest
// stays live. If Create fails before CURRENT is replaced the new file is
// removed; if only the final directory sync fails, CURRENT may or may not
// name the new manifest after a crash, so the file is kept.
func Create(fs vfs.FS, dir string, num base.FileNum, snapshot *VersionEdit) (*Writer, error) {
	if err := validateEdit(snapshot); err != nil {
		return nil, fmt.Errorf("manifest: create: invalid snapshot: %w", err)
	}
	name := base.MakeFilename(base.FileTypeManifest, num)
	path := filepath.Join(dir, name)
	f, err := fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: create %s: %w", name, err)
	}
	w := &Writer{num: num, w: wal.NewWriter(f)}
	// Each edit after the first follows a sync marker for the one before
	// it, so that a damaged record followed by later ones is told from a
	// torn tail (ReadEdits).
	w.w.MarkSyncs()
	err = w.w.WriteRecord(w.encode(snapshot))
	if err == nil {
		err = w.w.Sync()
	}
	if err == nil {
		err = fs.SyncDir(dir)
	}
	if err != nil {
		w.w.Close()
		fs.Remove(path)
		return nil, fmt.Errorf("manifest: create %s: %w", name, err)
	}
	if renamed, err := setCurrent(fs, dir, num); err != nil {
		w.w.Close()
		if !renamed {
			fs.Remove(path)
		}
		// Otherwise CURRENT may name the new file after a crash: keep it.
		return nil, fmt.Errorf("manifest: create %s: %w", name, err)
	}
	return w, nil
}

// encode returns the record payload for e: the format version, then e.
func (w *Writer) encode(e *VersionEdit) []byte {
	w.buf = append(w.buf[:0], formatVersion)
	w.buf = e.encode(w.buf)
	return w.buf
}

// Append writes e as one record and fsyncs the manifest. When it returns
// nil the edit is durable. An invalid edit (see State.Apply for what is
// checked on its own) is refused without breaking the Writer; any write or
// sync failure breaks it, and every later call returns that error: the
// caller must not assume the edit is either in or out of the log, and
// should start a new manifest.
func (w *Writer) Append(e *VersionEdit) error {
	if w.err != nil {
		return w.err
	}
	if err := validateEdit(e); err != nil {
		return fmt.Errorf("manifest: append: invalid edit: %w", err)
	}
	err := w.w.WriteRecord(w.encode(e))
	if err == nil {
		err = w.w.Sync()
	}
	if err != nil {
		w.err = fmt.Errorf("manifest: append to %s: %w", base.MakeFilename(base.FileTypeManifest, w.num), err)
		return w.err
	}
	return nil
}

// Size returns the manifest's length in bytes, so the db can start a new
// one when it grows large.
func (w *Writer) Size() int64 { return w.w.Size() }

// FileNum returns the manifest's file number.
func (w *Writer) FileNum() base.FileNum { return w.num }

// Close closes the manifest; Append synced every edit. Later calls return
// an error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	// Every edit was synced when appended: close without the sync marker
	// (and fsync) that closing a log with MarkSyncs would add.
	err := w.w.Abandon()
	if err == nil && w.err != nil {
		err = w.err // a failed Append: the edit may be lost
	}
	if w.err == nil {
		w.err = fmt.Errorf("manifest: writer: %w", base.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("manifest: close %s: %w", base.MakeFilename(base.FileTypeManifest, w.num), err)
	}
	return nil
}
