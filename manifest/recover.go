package manifest

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// Recover reads CURRENT and replays the manifest it names into a State,
// returning the state and the manifest's number. When there is no CURRENT
// the error satisfies errors.Is(err, fs.ErrNotExist): there is no database
// yet. A torn tail of the manifest (an edit that was being appended when
// the process died, so never acknowledged) is ignored. A manifest with no
// complete record, a missing manifest, a bad record before the tail or an
// edit that does not apply are corruption errors naming the file.
//
// Recover does not append to the manifest it read: the caller writes a new
// one with Create(…, State.Snapshot()), which also leaves any torn tail
// behind.
func Recover(fs vfs.FS, dir string) (*State, base.FileNum, error) {
	num, err := ReadCurrent(fs, dir)
	if err != nil {
		return nil, 0, err
	}
	name := base.MakeFilename(base.FileTypeManifest, num)
	f, err := fs.Open(filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			// CURRENT names a file that is gone: the directory is damaged,
			// which must not look like "no database".
			return nil, 0, base.Corruptf(name, "", "named by CURRENT but missing")
		}
		return nil, 0, fmt.Errorf("manifest: open %s: %w", name, err)
	}
	defer f.Close()
	s, err := replay(f, name)
	if err != nil {
		return nil, 0, err
	}
	return s, num, nil
}

// replay applies every record of the manifest in f to a new State.
func replay(f vfs.File, name string) (*State, error) {
	s := NewState()
	records := 0
	end, _, err := ReadEdits(f, name, func(off int64, e *VersionEdit) error {
		if err := s.Apply(e); err != nil {
			return renameCorruption(err, name, fmt.Sprintf("offset %d", off))
		}
		records++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if records == 0 {
		return nil, base.Corruptf(name, "", "no complete record (%d bytes)", end)
	}
	return s, nil
}

// ReadEdits decodes the records of the manifest in f in order and calls
// fn with each edit and the offset of its record; name identifies f in
// errors. The edit is reused for the next record. It stops at the first
// error, fn's or a corruption error naming the file and offset (a bad
// record, an unknown format version, an edit that does not decode), and
// at the end of the log: end is then the offset past the last complete
// record, and torn reports that bytes after it hold a record cut short,
// the tail an interrupted append leaves, which recovery ignores.
func ReadEdits(f vfs.File, name string, fn func(off int64, e *VersionEdit) error) (end int64, torn bool, err error) {
	r := wal.NewReader(f, name)
	var e VersionEdit
	for {
		off := r.ValidLen()
		p, err := r.Next()
		if err == io.EOF && r.TornTail() {
			// Only the last edit, being appended when the process died,
			// may be torn: a sync marker after it shows edits followed
			// (a damaged length field reads as a record running past the
			// end of the file).
			tail, err := wal.ScanTail(f, off)
			if err != nil {
				return off, false, fmt.Errorf("manifest: replay: %w", err)
			}
			if tail.Synced > off {
				return off, false, base.Corruptf(name, fmt.Sprintf("offset %d", off),
					"damaged record: a sync marker at offset %d shows the bytes up to %d had been synced", tail.Marker, tail.Synced)
			}
			return off, true, nil
		}
		if err == io.EOF {
			return off, false, nil
		}
		if err != nil {
			return off, false, fmt.Errorf("manifest: replay: %w", err)
		}
		where := fmt.Sprintf("offset %d", off)
		if p[0] != formatVersion {
			return off, false, base.Corruptf(name, where, "unknown manifest format version %d", p[0])
		}
		if err := e.decode(p[1:]); err != nil {
			return off, false, renameCorruption(err, name, where)
		}
		if err := fn(off, &e); err != nil {
			return off, false, err
		}
	}
}

// renameCorruption turns a corruption error about an edit into one naming
// the manifest file and record.
func renameCorruption(err error, name, where string) error {
	var ce *base.CorruptionError
	if errors.As(err, &ce) {
		detail := ce.Detail
		if ce.Where != "" {
			detail = "edit " + ce.Where + ": " + detail
		}
		return base.Corruptf(name, where, "%s", detail)
	}
	return fmt.Errorf("manifest: %s %s: %w", name, where, err)
}
