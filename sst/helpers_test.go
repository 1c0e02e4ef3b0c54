package sst

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// kv is a point entry of the test model.
type kv struct {
	key   base.InternalKey
	value []byte
}

// rd is a range deletion of the test model.
type rd struct {
	start, end []byte
	seq        base.SeqNum
}

// sortKVs sorts entries in internal key order and drops duplicate keys.
func sortKVs(kvs []kv) []kv {
	sort.SliceStable(kvs, func(i, j int) bool { return base.CompareInternal(kvs[i].key, kvs[j].key) < 0 })
	out := kvs[:0]
	for _, e := range kvs {
		if len(out) > 0 && base.CompareInternal(out[len(out)-1].key, e.key) == 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// modelGet is what Reader.Get must return for the sorted entries.
func modelGet(kvs []kv, ukey []byte, seq base.SeqNum) (kv, bool) {
	target := base.MakeInternalKey(ukey, min(seq, base.MaxSeqNum), base.KindMax)
	i := sort.Search(len(kvs), func(i int) bool { return base.CompareInternal(kvs[i].key, target) >= 0 })
	if i < len(kvs) && bytes.Equal(kvs[i].key.UserKey, ukey) {
		return kvs[i], true
	}
	return kv{}, false
}

// modelSeekGE returns the index of the first entry with user key >= ukey.
func modelSeekGE(kvs []kv, ukey []byte) int {
	return sort.Search(len(kvs), func(i int) bool { return bytes.Compare(kvs[i].key.UserKey, ukey) >= 0 })
}

// writeTable writes a file at path and returns its properties.
func writeTable(tb testing.TB, path string, opts WriterOptions, kvs []kv, rds []rd) Properties {
	tb.Helper()
	f, err := vfs.Default().Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	props, err := writeTo(f, opts, kvs, rds)
	if err != nil {
		tb.Fatal(err)
	}
	return props
}

func writeTo(f vfs.File, opts WriterOptions, kvs []kv, rds []rd) (Properties, error) {
	w := NewWriter(f, opts)
	for _, e := range kvs {
		if err := w.Add(e.key, e.value); err != nil {
			w.Abort()
			return Properties{}, err
		}
	}
	for _, d := range rds {
		if err := w.AddRangeDel(d.start, d.end, d.seq); err != nil {
			w.Abort()
			return Properties{}, err
		}
	}
	return w.Finish()
}

// openTable opens path with a fresh cache of the given page size.
func openTable(tb testing.TB, path string, pageSize int, num base.FileNum) (*Reader, *cache.Pool) {
	tb.Helper()
	pool := cache.New(cache.Options{Capacity: 1 << 20, PageSize: pageSize})
	r, err := openWith(path, pool, num)
	if err != nil {
		tb.Fatal(err)
	}
	return r, pool
}

func openWith(path string, pool *cache.Pool, num base.FileNum) (*Reader, error) {
	f, err := vfs.Default().Open(path)
	if err != nil {
		return nil, err
	}
	return Open(f, ReaderOptions{Cache: pool, FileNum: num, FileName: filepath.Base(path)})
}

// checkAll compares full forward and backward iteration and a Get of every
// key with the model. It returns the first difference or error.
func checkAll(r *Reader, kvs []kv) error {
	it := r.newIter()
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(kvs) {
			return fmt.Errorf("forward: extra entry %s", it.Key())
		}
		if err := sameEntry(it, kvs[i]); err != nil {
			return fmt.Errorf("forward %d: %w", i, err)
		}
		i++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if i != len(kvs) {
		return fmt.Errorf("forward: %d entries, want %d", i, len(kvs))
	}
	i = len(kvs) - 1
	for ok := it.Last(); ok; ok = it.Prev() {
		if i < 0 {
			return fmt.Errorf("backward: extra entry %s", it.Key())
		}
		if err := sameEntry(it, kvs[i]); err != nil {
			return fmt.Errorf("backward %d: %w", i, err)
		}
		i--
	}
	if err := it.Error(); err != nil {
		return err
	}
	if i != -1 {
		return fmt.Errorf("backward: stopped at %d", i)
	}
	if st, err := r.Verify(); err != nil || st.Entries != uint64(len(kvs)) {
		return fmt.Errorf("Verify: %+v, %v", st, err)
	}
	for _, pages := range []int{1, 3, 64} {
		if err := checkScan(r, kvs, pages*r.meta.pageSize); err != nil {
			return fmt.Errorf("scan of %d-page chunks: %w", pages, err)
		}
	}
	var buf []byte
	for _, e := range kvs {
		want, _ := modelGet(kvs, e.key.UserKey, e.key.SeqNum())
		g, err := r.Get(buf, e.key.UserKey, e.key.SeqNum())
		if err != nil {
			return err
		}
		if !g.Found || g.Kind != want.key.Kind() || g.Seq != want.key.SeqNum() || !bytes.Equal(g.Value, want.value) {
			return fmt.Errorf("Get(%q, %d) = %v %s %d %d bytes, want %s", e.key.UserKey, e.key.SeqNum(), g.Found, g.Kind, g.Seq, len(g.Value), want.key)
		}
		buf = g.Value
	}
	return nil
}

// checkScan compares a ScanIter reading chunk bytes at a time with the
// model, including the stored form of compressed values.
func checkScan(r *Reader, kvs []kv, chunk int) error {
	it := r.NewScanIter(chunk)
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(kvs) {
			return fmt.Errorf("extra entry %s", it.Key())
		}
		if err := sameEntry(it, kvs[i]); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if block, ok := it.StoredValue(); ok {
			if v, err := appendDecompressed(nil, block); err != nil || !bytes.Equal(v, kvs[i].value) {
				return fmt.Errorf("entry %d: stored block decodes to %d bytes, %v", i, len(v), err)
			}
		}
		i++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if i != len(kvs) {
		return fmt.Errorf("%d entries, want %d", i, len(kvs))
	}
	if it.SeekGE(nil) || it.Error() == nil {
		return errors.New("SeekGE of a scan did not fail")
	}
	return nil
}

// positioned is what sameEntry reads of an iterator.
type positioned interface {
	Valid() bool
	Key() base.InternalKey
	Value() []byte
	Error() error
}

func sameEntry(it positioned, e kv) error {
	if !it.Valid() {
		return errors.New("iterator not valid")
	}
	if base.CompareInternal(it.Key(), e.key) != 0 || it.Key().Trailer != e.key.Trailer {
		return fmt.Errorf("key %s, want %s", it.Key(), e.key)
	}
	if v := it.Value(); !bytes.Equal(v, e.value) {
		if err := it.Error(); err != nil {
			return err
		}
		return fmt.Errorf("key %s: value of %d bytes, want %d", e.key, len(v), len(e.value))
	}
	return nil
}

// ikey builds an internal key from a string.
func ikey(k string, seq base.SeqNum, kind base.Kind) base.InternalKey {
	return base.MakeInternalKey([]byte(k), seq, kind)
}

// pattern returns n deterministic bytes derived from seed.
func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// isCorruption reports whether err wraps ErrCorruption and names file.
func isCorruption(err error, file string) bool {
	return errors.Is(err, base.ErrCorruption) && strings.Contains(err.Error(), file)
}

// memFile is an in-memory vfs.File for fuzzing.
type memFile struct {
	mu   sync.Mutex
	data []byte
	off  int64
}

var _ vfs.File = (*memFile)(nil)

func (m *memFile) Read(p []byte) (int, error) {
	n, err := m.ReadAt(p, m.off)
	m.off += int64(n)
	return n, err
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) Write(p []byte) (int, error) {
	n, err := m.WriteAt(p, m.off)
	m.off += int64(n)
	return n, err
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
	}
	copy(m.data[off:], p)
	return len(p), nil
}

func (m *memFile) Close() error { return nil }
func (m *memFile) Sync() error  { return nil }

func (m *memFile) Size() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.data)), nil
}

func (m *memFile) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size < int64(len(m.data)) {
		m.data = m.data[:size]
	} else {
		m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
	}
	return nil
}
