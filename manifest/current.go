package manifest

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// currentName is the file naming the live manifest.
const currentName = "CURRENT"

// maxCurrentLen bounds CURRENT's size: "MANIFEST-" + 20 digits + "\n" fits.
const maxCurrentLen = 64

// setCurrent points CURRENT at MANIFEST-num: it writes CURRENT.<num>.tmp
// holding "MANIFEST-<num>\n", fsyncs it, renames it over CURRENT and fsyncs
// dir. A crash at any point leaves CURRENT naming either the old manifest
// or the new one. renamed reports whether the rename happened: if it did
// not, CURRENT still names the old manifest whatever the error.
func setCurrent(fs vfs.FS, dir string, num base.FileNum) (renamed bool, err error) {
	content := base.MakeFilename(base.FileTypeManifest, num) + "\n"
	tmp := filepath.Join(dir, fmt.Sprintf("%s.%06d.tmp", currentName, uint64(num)))
	if err := writeSynced(fs, tmp, content); err != nil {
		fs.Remove(tmp)
		return false, fmt.Errorf("manifest: set CURRENT to %d: %w", uint64(num), err)
	}
	if err := fs.Rename(tmp, filepath.Join(dir, currentName)); err != nil {
		fs.Remove(tmp)
		return false, fmt.Errorf("manifest: set CURRENT to %d: rename: %w", uint64(num), err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return true, fmt.Errorf("manifest: set CURRENT to %d: sync dir: %w", uint64(num), err)
	}
	return true, nil
}

// writeSynced creates path holding content and fsyncs it.
func writeSynced(fs vfs.FS, path, content string) error {
	f, err := fs.Create(path)
	if err != nil {
		return err
	}
	n, err := io.WriteString(f, content)
	if err == nil && n < len(content) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadCurrent returns the number of the manifest CURRENT names. When there
// is no CURRENT the error satisfies errors.Is(err, fs.ErrNotExist) (a new
// database); a malformed CURRENT is a corruption error.
func ReadCurrent(fs vfs.FS, dir string) (base.FileNum, error) {
	f, err := fs.Open(filepath.Join(dir, currentName))
	if err != nil {
		return 0, fmt.Errorf("manifest: read CURRENT: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, fmt.Errorf("manifest: read CURRENT: %w", err)
	}
	if size > maxCurrentLen {
		return 0, base.Corruptf(currentName, "", "%d bytes, longer than any manifest name", size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return 0, fmt.Errorf("manifest: read CURRENT: %w", err)
	}
	name, ok := strings.CutSuffix(string(buf), "\n")
	if !ok {
		return 0, base.Corruptf(currentName, "", "%q does not end in a newline", buf)
	}
	ft, num := base.ParseFilename(name)
	if ft != base.FileTypeManifest || num == 0 {
		return 0, base.Corruptf(currentName, "", "%q is not a manifest name", name)
	}
	return num, nil
}
