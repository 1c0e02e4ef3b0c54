//go:build linux

package sst

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/vfs"
)

// BenchmarkScanDirect scans an 8 MB table of 4 KiB pages through a pool of
// 256 frames: buffered with the file in the page cache (warm), buffered
// after dropping the file's cached pages with fadvise (cold), and with
// O_DIRECT, each with readahead off, at the default 8 pages and at 32. It
// needs a disk filesystem and skips elsewhere.
func BenchmarkScanDirect(b *testing.B) {
	const P = 4096
	dir, magic := diskDir(b)
	data, kvs, _ := scanFixture(b, P, 60000)
	path := filepath.Join(dir, "000001.sst")
	if err := os.WriteFile(path, data.data, 0o644); err != nil {
		b.Fatal(err)
	}
	dropCache := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		f.Sync()
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"buffered-warm", "buffered-cold", "direct"} {
		for _, ra := range []int{-1, 0, 32} {
			b.Run(fmt.Sprintf("%s/readahead=%d", mode, ra), func(b *testing.B) {
				b.SetBytes(int64(len(data.data)))
				reads := 0
				for b.Loop() {
					b.StopTimer()
					if mode == "buffered-cold" {
						dropCache()
					}
					var f vfs.File
					var err error
					if mode == "direct" {
						f = openDirectOrSkip(b, path, magic)
					} else if f, err = vfs.Default().Open(path); err != nil {
						b.Fatal(err)
					}
					rec := &recordingFile{File: f}
					pool := cache.New(cache.Options{Capacity: 256 * P, PageSize: P})
					r, err := Open(withVectors(rec), ReaderOptions{Cache: pool, FileNum: 1, DirectIO: mode == "direct", Readahead: ra})
					if err != nil {
						b.Fatal(err)
					}
					rec.take()
					b.StartTimer()
					it := r.newIter()
					n := 0
					for ok := it.First(); ok; ok = it.Next() {
						n++
					}
					if err := it.Close(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if n != len(kvs) {
						b.Fatalf("scan saw %d entries, want %d", n, len(kvs))
					}
					reads = len(rec.take())
					r.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(reads), "reads/scan")
			})
		}
	}
}
