package raftstore

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/vfs"
)

// A snapshot of the FSM is a tar stream (POSIX ustar/PAX, as archive/tar
// writes it) of the files of a Strata checkpoint: regular files only,
// each named by its plain file name (no directories), in name order.

// maxArchiveFile bounds one file of a snapshot archive (1 TiB): a header
// claiming more is rejected before anything is written.
const maxArchiveFile = 1 << 40

// ErrBadSnapshot is wrapped by the error Restore returns for a snapshot
// stream that is not an archive of a checkpoint.
var ErrBadSnapshot = errors.New("raftstore: malformed snapshot")

// writeArchive writes the files of dir to w as a tar stream.
func writeArchive(fsys vfs.FS, dir string, w io.Writer) error {
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	tw := tar.NewWriter(w)
	for _, name := range names {
		if err := writeArchiveFile(fsys, tw, filepath.Join(dir, name), name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	return nil
}

func writeArchiveFile(fsys vfs.FS, tw *tar.Writer, path, name string) error {
	f, err := fsys.Open(path)
	if err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("raftstore: snapshot: %s: %w", name, err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("raftstore: snapshot: %s: %w", name, err)
	}
	if _, err := io.Copy(tw, io.NewSectionReader(f, 0, size)); err != nil {
		return fmt.Errorf("raftstore: snapshot: %s: %w", name, err)
	}
	return nil
}

// validArchiveName reports whether name is a plain file name a
// checkpoint could hold: letters, digits, '.', '-' and '_', not "." or
// "..", so no entry can name a path outside the directory it is
// unpacked into.
func validArchiveName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// readArchive reads a tar stream from r and hands each file to create,
// which returns where its bytes go; done is called after a file's bytes
// are written (to sync and close it). Any input is safe: an entry that
// is not a regular file with a valid, new name, or a stream that is not
// tar, gives an error wrapping ErrBadSnapshot, never a panic.
func readArchive(r io.Reader, create func(name string) (io.Writer, error), done func(name string) error) (files int, err error) {
	tr := tar.NewReader(r)
	seen := make(map[string]bool)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return files, fmt.Errorf("%w: entry %q of type %q is not a regular file", ErrBadSnapshot, hdr.Name, hdr.Typeflag)
		}
		if !validArchiveName(hdr.Name) {
			return files, fmt.Errorf("%w: entry name %q", ErrBadSnapshot, hdr.Name)
		}
		if seen[hdr.Name] {
			return files, fmt.Errorf("%w: entry %q twice", ErrBadSnapshot, hdr.Name)
		}
		seen[hdr.Name] = true
		if hdr.Size < 0 || hdr.Size > maxArchiveFile {
			return files, fmt.Errorf("%w: entry %q of %d bytes", ErrBadSnapshot, hdr.Name, hdr.Size)
		}
		w, err := create(hdr.Name)
		if err != nil {
			return files, err
		}
		n, err := io.Copy(w, tr)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return files, fmt.Errorf("%w: entry %q cut short: %w", ErrBadSnapshot, hdr.Name, err)
		}
		if err != nil {
			return files, fmt.Errorf("raftstore: restore: %s: %w", hdr.Name, err)
		}
		if n != hdr.Size {
			return files, fmt.Errorf("%w: entry %q holds %d of %d bytes", ErrBadSnapshot, hdr.Name, n, hdr.Size)
		}
		if err := done(hdr.Name); err != nil {
			return files, err
		}
		files++
	}
}
