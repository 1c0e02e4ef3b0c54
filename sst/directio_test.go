package sst

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// readRec is one ReadAt a recordingFile saw.
type readRec struct {
	off  int64
	n    int
	addr uintptr
}

func (r readRec) String() string { return fmt.Sprintf("%d bytes at %d into %#x", r.n, r.off, r.addr) }

// recordingFile is a vfs.File that records every ReadAt.
type recordingFile struct {
	vfs.File
	mu       sync.Mutex
	reads    []readRec
	vectored int // reads that came through ReadvAt
}

func (f *recordingFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	f.reads = append(f.reads, readRec{off, len(p), uintptr(unsafe.Pointer(unsafe.SliceData(p)))})
	f.mu.Unlock()
	return f.File.ReadAt(p, off)
}

// recordingVectorFile is a recordingFile over a vfs.VectorReader that
// keeps the vectored reads.
type recordingVectorFile struct{ *recordingFile }

// withVectors returns rec itself, or rec with ReadvAt when the file it
// wraps has it, so a Reader over it reads as it would over the file.
func withVectors(rec *recordingFile) vfs.File {
	if _, ok := rec.File.(vfs.VectorReader); ok {
		return recordingVectorFile{rec}
	}
	return rec
}

// ReadvAt records a vectored read as one read of the buffers' total
// length at the first buffer's address.
func (f recordingVectorFile) ReadvAt(bufs [][]byte, off int64) (int, error) {
	vr := f.File.(vfs.VectorReader)
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	f.mu.Lock()
	f.reads = append(f.reads, readRec{off, n, uintptr(unsafe.Pointer(unsafe.SliceData(bufs[0])))})
	f.vectored++
	f.mu.Unlock()
	return vr.ReadvAt(bufs, off)
}

// take returns the reads recorded so far and forgets them.
func (f *recordingFile) take() []readRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reads
	f.reads = nil
	return r
}

// unaligned returns the reads that break the direct-I/O rule.
func unaligned(reads []readRec) []readRec {
	var bad []readRec
	for _, r := range reads {
		if r.off%directAlign != 0 || r.n%directAlign != 0 || r.addr%directAlign != 0 {
			bad = append(bad, r)
		}
	}
	return bad
}

// directFixture returns entries with every shape a reader meets at page
// size P: small inline values, deletes, values that overflow into one page
// and into several, and range deletions.
func directFixture(P, n int) ([]kv, []rd) {
	var kvs []kv
	for i := range n {
		var v []byte
		switch {
		case i%97 == 5:
			v = pattern(3*P+100, i) // several overflow pages
		case i%53 == 3:
			v = pattern(P/2, i) // one overflow page
		case i%4 != 0:
			v = pattern(i%60, i)
		}
		kind := base.KindSet
		if i%13 == 0 {
			kind, v = base.KindDelete, nil
		}
		kvs = append(kvs, kv{ikey(fmt.Sprintf("key%07d", i), base.SeqNum(i+1), kind), v})
	}
	var rds []rd
	for i := range n / 100 {
		rds = append(rds, rd{[]byte(fmt.Sprintf("key%07d", i*100)), []byte(fmt.Sprintf("key%07d", i*100+7)), base.SeqNum(i + 1)})
	}
	return kvs, rds
}

// TestDirectIOAlignedReads records every ReadAt a DirectIO reader issues
// through Open, Get, forward and backward scans, seeks and overflowed
// values, for page sizes below, at and above 4096, with and without
// readahead, and checks that all of them are 4096-aligned in offset,
// length and buffer address. The pool is small, so pages are read again
// and again.
func TestDirectIOAlignedReads(t *testing.T) {
	for _, P := range []int{1024, 4096, 16384} {
		kvs, rds := directFixture(P, 1500)
		data := &memFile{}
		props, err := writeTo(data, WriterOptions{PageSize: P, BloomBitsPerKey: 10}, kvs, rds)
		if err != nil {
			t.Fatal(err)
		}
		if props.ValuePages == 0 || props.Height < 1 || props.BloomPages == 0 {
			t.Fatalf("P=%d: fixture lacks a page type: %+v", P, props)
		}
		for _, ra := range []int{0, -1} {
			for _, direct := range []bool{true, false} {
				if !direct && (P != MinPageSize || ra != 0) {
					continue // one buffered run checks that the recorder sees unaligned reads
				}
				name := fmt.Sprintf("P=%d/readahead=%d/direct=%v", P, ra, direct)
				f := &recordingFile{File: &memFile{data: data.data}}
				pool := cache.New(cache.Options{Capacity: 32 * int64(P), PageSize: P})
				r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 3, DirectIO: direct, Readahead: ra})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := checkAll(r, kvs); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				it := r.newIter()
				for i := 0; i < len(kvs); i += 211 {
					if !it.SeekGE(kvs[i].key.UserKey) || it.Value() == nil && it.Error() != nil {
						t.Fatalf("%s: SeekGE(%q): %v", name, kvs[i].key.UserKey, it.Error())
					}
					it.SeekLT(kvs[i].key.UserKey)
				}
				if err := it.Close(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				r.Close()
				reads := f.take()
				bad := unaligned(reads)
				if direct && len(bad) > 0 {
					t.Fatalf("%s: %d of %d reads unaligned, first %v", name, len(bad), len(reads), bad[0])
				}
				if !direct && P < directAlign && len(bad) == 0 {
					t.Fatalf("%s: every read aligned without DirectIO: is the recorder working?", name)
				}
				st := r.Stats()
				if ra == 0 && st.Prefetches == 0 || ra < 0 && st.Prefetches != 0 {
					t.Fatalf("%s: %d prefetches", name, st.Prefetches)
				}
				t.Logf("%s: %d reads, %d unaligned, %d prefetch runs of %d pages", name, len(reads), len(bad), st.Prefetches, st.PrefetchedPages)
			}
		}
	}
}

// TestDirectIOForeignPageSize checks that the error path that reads page 0
// outside the cache, to explain a page size mismatch, stays aligned.
func TestDirectIOForeignPageSize(t *testing.T) {
	kvs, _ := directFixture(1024, 500)
	data := &memFile{}
	if _, err := writeTo(data, WriterOptions{PageSize: 1024}, kvs, nil); err != nil {
		t.Fatal(err)
	}
	for _, P := range []int{2048, 4096, 16384} {
		f := &recordingFile{File: &memFile{data: data.data}}
		pool := cache.New(cache.Options{Capacity: 32 * int64(P), PageSize: P})
		_, err := Open(f, ReaderOptions{Cache: pool, FileNum: 1, DirectIO: true})
		if err == nil || !strings.Contains(err.Error(), "page size 1024 differs") {
			t.Fatalf("cache page size %d: Open = %v", P, err)
		}
		if bad := unaligned(f.take()); len(bad) > 0 {
			t.Fatalf("cache page size %d: unaligned read %v", P, bad[0])
		}
	}
}

// einvalFile fails every ReadAt after the first ok ones with EINVAL, as a
// file opened with O_DIRECT does for a read it finds misaligned.
type einvalFile struct {
	vfs.File
	ok atomic.Int64
}

func (f *einvalFile) ReadAt(p []byte, off int64) (int, error) {
	if f.ok.Add(-1) < 0 {
		return 0, &os.PathError{Op: "read", Path: "einval", Err: syscall.EINVAL}
	}
	return f.File.ReadAt(p, off)
}

// TestDirectIORefused checks that an EINVAL under DirectIO, at Open or
// during a scan, is reported as refused alignment, so the caller knows to
// reopen the file buffered; without DirectIO it stays a plain I/O error.
func TestDirectIORefused(t *testing.T) {
	const P = 4096
	kvs, rds := directFixture(P, 2000)
	data := &memFile{}
	if _, err := writeTo(data, WriterOptions{PageSize: P, BloomBitsPerKey: 10}, kvs, rds); err != nil {
		t.Fatal(err)
	}
	for _, direct := range []bool{true, false} {
		// At Open: the first read fails.
		pool := cache.New(cache.Options{Capacity: 64 * P, PageSize: P})
		_, err := Open(&einvalFile{File: &memFile{data: data.data}}, ReaderOptions{Cache: pool, FileNum: 1, DirectIO: direct})
		if !errors.Is(err, syscall.EINVAL) || errors.Is(err, vfs.ErrDirectIOAlignment) != direct || errors.Is(err, base.ErrCorruption) {
			t.Fatalf("direct=%v: Open = %v", direct, err)
		}
		if direct && !strings.Contains(err.Error(), "alignment refused") {
			t.Fatalf("Open = %v: the message does not say alignment was refused", err)
		}
		// During a scan: Open's reads succeed, the scan's fail.
		f := &einvalFile{File: &memFile{data: data.data}}
		f.ok.Store(1 << 30)
		r, err := Open(f, ReaderOptions{Cache: pool, FileNum: 2, DirectIO: direct})
		if err != nil {
			t.Fatal(err)
		}
		f.ok.Store(0)
		it := r.newIter()
		for ok := it.First(); ok; ok = it.Next() {
		}
		err = it.Close()
		if !errors.Is(err, syscall.EINVAL) || errors.Is(err, vfs.ErrDirectIOAlignment) != direct {
			t.Fatalf("direct=%v: scan = %v", direct, err)
		}
		r.Close()
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d pages pinned", m.Pinned)
		}
	}
}
