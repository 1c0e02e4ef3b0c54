package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/bloom"
	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

const sstDumpAbout = `
Prints an SST file: its metadata page, its pages by type (count, bytes,
bytes used), the B+Tree's shape (height and node pages per level), the
Bloom filter's parameters, then every point entry (key, seqnum, kind, and
its value with --values) and the range deletions. Every page is read and
checked once, outside any cache; a damaged page stops the dump with exit
status 1. It reads the file alone: it does not open the database.` + "\n" + codecAbout

const manifestDumpAbout = `
Prints every edit of the manifest that DIR's CURRENT names (or of the
MANIFEST file given), each at the offset of its record: the WAL number,
next file number, last seqnum and page size it sets, and the files it
adds (level, number, run, size, entries, key range, seqnums, Bloom bits)
and removes; then the state the edits build. The first edit is a
snapshot of the state when the manifest was started. A torn tail (an
edit cut short by a crash, which recovery ignores) is reported; a damaged
record stops the dump with exit status 1. It reads the manifest alone,
takes no lock and writes nothing.` + "\n" + codecAbout

func runSSTDump(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("sst dump", stderr, sstDumpAbout)
	var c codec
	c.addFlags(fs)
	values := fs.Bool("values", false, "print each entry's value after its key")
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	if err := c.check(); err != nil {
		fmt.Fprintf(stderr, "strata sst dump: %v\n", err)
		return exitUsage
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if err := sstDump(out, pos[0], c, *values); err != nil {
		out.Flush()
		return failed("sst dump", err, stderr)
	}
	return exitOK
}

// sstDump prints the file at path.
func sstDump(w io.Writer, path string, c codec, values bool) error {
	name := filepath.Base(path)
	f, err := vfs.Default().Open(path)
	if err != nil {
		return err
	}
	P, err := sst.PageSizeOf(f, name)
	if err != nil {
		f.Close()
		return err
	}
	// A pool of its own; the layout and the scan read around it.
	pool := cache.New(cache.Options{Capacity: 16 * int64(P), PageSize: P})
	defer pool.Close()
	r, err := sst.Open(f, sst.ReaderOptions{Cache: pool, FileName: name})
	if err != nil {
		return err
	}
	defer r.Close()
	p := r.Properties()
	l, err := r.Layout()
	if err != nil {
		return err
	}
	key := func(k base.InternalKey) string {
		return fmt.Sprintf("%s #%d %s", c.encode(k.UserKey), k.SeqNum(), k.Kind())
	}

	fmt.Fprintf(w, "%s: format version %d, %d pages of %d bytes (%d bytes)\n", name, l.Version, p.Pages, p.PageSize, int64(p.Pages)*int64(p.PageSize))
	fmt.Fprintf(w, "\nmetadata (page 0):\n")
	fmt.Fprintf(w, "  point entries     %d\n", p.Entries)
	fmt.Fprintf(w, "  range deletions   %d\n", p.RangeDels)
	fmt.Fprintf(w, "  seqnums           [%d, %d]\n", p.SmallestSeq, p.LargestSeq)
	if p.Entries > 0 {
		fmt.Fprintf(w, "  smallest key      %s\n", key(p.Smallest))
		fmt.Fprintf(w, "  largest key       %s\n", key(p.Largest))
	}
	fmt.Fprintf(w, "  leaf pages        %d, from page 1\n", p.LeafPages)
	if l.Version >= 4 {
		fmt.Fprintf(w, "  value pages       %d, among the leaves (value stream %d bytes)\n", p.ValuePages, p.ValueBytes)
	} else {
		fmt.Fprintf(w, "  overflow pages    %d, among the leaves\n", p.OverflowPages)
	}
	fmt.Fprintf(w, "  range-del pages   %d, from page %d\n", p.RangeDelPages, l.RangeDelFirst)
	fmt.Fprintf(w, "  node pages        %d, from page %d\n", p.NodePages, l.NodeFirst)
	if l.Version >= 4 {
		fmt.Fprintf(w, "  value directory   %d pages, from page %d\n", p.ValueDirPages, l.ValueDirFirst)
	}
	fmt.Fprintf(w, "  bloom pages       %d, from page %d (filter %d bytes)\n", p.BloomPages, l.BloomFirst, l.BloomBytes)
	fmt.Fprintf(w, "  bloom bits/key    %g\n", p.BloomBitsPerKey)
	fmt.Fprintf(w, "  root page         %d\n", l.Root)
	fmt.Fprintf(w, "  tree height       %d\n", p.Height)

	fmt.Fprintf(w, "\npages by type:\n")
	fmt.Fprintf(w, "  %-16s %7s %12s %12s %6s\n", "type", "pages", "bytes", "used", "fill")
	for _, t := range l.PageTypes {
		bytes := uint64(t.Pages) * uint64(p.PageSize)
		fmt.Fprintf(w, "  %-16s %7d %12d %12d %5.1f%%\n", t.Type, t.Pages, bytes, t.UsedBytes, 100*float64(t.UsedBytes)/float64(bytes))
	}

	fmt.Fprintf(w, "\nB+Tree: height %d, root page %d\n", p.Height, l.Root)
	for i := len(l.NodesPerLevel) - 1; i >= 0; i-- {
		fmt.Fprintf(w, "  level %d: %d node pages\n", i+1, l.NodesPerLevel[i])
	}
	if p.LeafPages > 0 {
		fmt.Fprintf(w, "  level 0: %d leaf pages, %.1f entries each\n", p.LeafPages, float64(p.Entries)/float64(p.LeafPages))
	}

	if l.BloomBytes > 0 {
		fmt.Fprintf(w, "\nBloom filter: %d bytes, %d hash functions, %.2f bits per key, false-positive rate %.3g%% expected\n",
			l.BloomBytes, l.BloomHashes, l.BloomBitsPerKey, 100*bloom.FalsePositiveRate(l.BloomBitsPerKey))
	} else {
		fmt.Fprintf(w, "\nBloom filter: none\n")
	}

	fmt.Fprintf(w, "\nentries:\n")
	it := r.NewScanIter(0)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if !values || k.Kind() == base.KindDelete {
			fmt.Fprintf(w, "  %s\n", key(k))
			continue
		}
		v := it.Value()
		if v == nil && it.Error() != nil {
			break
		}
		fmt.Fprintf(w, "  %s\t%s\n", key(k), c.encode(v))
	}
	if err := it.Close(); err != nil {
		return err
	}
	if rds := r.RangeDels(); len(rds) > 0 {
		fmt.Fprintf(w, "\nrange deletions:\n")
		for _, rd := range rds {
			fmt.Fprintf(w, "  [%s, %s) #%d\n", c.encode(rd.Start), c.encode(rd.End), rd.Seq)
		}
	}
	return nil
}

func runManifestDump(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("manifest dump", stderr, manifestDumpAbout)
	var c codec
	c.addFlags(fs)
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	if err := c.check(); err != nil {
		fmt.Fprintf(stderr, "strata manifest dump: %v\n", err)
		return exitUsage
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if err := manifestDump(out, pos[0], c); err != nil {
		out.Flush()
		return failed("manifest dump", err, stderr)
	}
	return exitOK
}

// manifestDump prints the manifest of the database in dir, or the
// manifest file dir.
func manifestDump(w io.Writer, dir string, c codec) error {
	fsys := vfs.Default()
	path, how := dir, ""
	if st, err := os.Stat(dir); err != nil {
		return err
	} else if st.IsDir() {
		num, err := manifest.ReadCurrent(fsys, dir)
		if errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("%s is not a Strata database: %w", dir, err)
		}
		if err != nil {
			return err
		}
		path = filepath.Join(dir, base.MakeFilename(base.FileTypeManifest, num))
		how = ", named by CURRENT"
	}
	name := filepath.Base(path)
	f, err := fsys.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (%d bytes%s)\n", name, size, how)
	key := func(k base.InternalKey) string {
		return fmt.Sprintf("%s #%d %s", c.encode(k.UserKey), k.SeqNum(), k.Kind())
	}
	state := manifest.NewState()
	edits := 0
	end, torn, err := manifest.ReadEdits(f, name, func(off int64, e *manifest.VersionEdit) error {
		what := ""
		if edits == 0 {
			what = " (snapshot)"
		}
		fmt.Fprintf(w, "\nedit %d at offset %d%s\n", edits, off, what)
		if e.LogNum != 0 {
			fmt.Fprintf(w, "  log number       %d\n", e.LogNum)
		}
		if e.NextFileNum != 0 {
			fmt.Fprintf(w, "  next file number %d\n", e.NextFileNum)
		}
		if e.LastSeq != 0 {
			fmt.Fprintf(w, "  last seqnum      %d\n", e.LastSeq)
		}
		if e.PageSize != 0 {
			fmt.Fprintf(w, "  page size        %d\n", e.PageSize)
		}
		for _, d := range e.DeletedFiles {
			fmt.Fprintf(w, "  remove L%d %s\n", d.Level, base.MakeFilename(base.FileTypeTable, d.FileNum))
		}
		for _, nf := range e.NewFiles {
			m := &nf.Meta
			fmt.Fprintf(w, "  add L%d %s run %d: %d bytes, %d entries, seqnums [%d, %d], bloom %.2f bits/key\n",
				nf.Level, base.MakeFilename(base.FileTypeTable, m.FileNum), m.Run, m.Size, m.Entries, m.SmallestSeq, m.LargestSeq, m.BloomBitsPerKey)
			fmt.Fprintf(w, "      keys %s .. %s\n", key(m.Smallest), key(m.Largest))
			if m.GlobalSeq != 0 {
				fmt.Fprintf(w, "      ingested, global seqnum %d\n", m.GlobalSeq)
			}
		}
		edits++
		if err := state.Apply(e); err != nil {
			return fmt.Errorf("%s offset %d: %w", name, off, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d edits, %d bytes", edits, end)
	if torn {
		fmt.Fprintf(w, "; a torn tail of %d bytes follows (an edit cut short, ignored by recovery)", size-end)
	}
	fmt.Fprintf(w, "\n\nstate: log number %d, next file number %d, last seqnum %d, page size %d\n", state.LogNum, state.NextFileNum, state.LastSeq, state.PageSize)
	for level := 0; level < state.NumLevels(); level++ {
		files := state.Files(level)
		if len(files) == 0 {
			continue
		}
		var bytes, entries uint64
		runs := map[uint64]bool{}
		for _, m := range files {
			bytes += m.Size
			entries += m.Entries
			runs[m.Run] = true
		}
		fmt.Fprintf(w, "  L%d: %d runs, %d files, %d bytes, %d entries\n", level, len(runs), len(files), bytes, entries)
	}
	return nil
}
