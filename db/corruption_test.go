package db

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corruptFile flips one byte at off (from the end if off < 0).
func corruptFile(t *testing.T, path string, off int64) {
	t.Helper()
	damaged(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(data))
	}
	data[off] ^= 0x5a
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func filesWithSuffix(t *testing.T, dir, suffix string) []string {
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestCorruptSSTReportsFile(t *testing.T) {
	dir := t.TempDir()
	o := &Options{PageSize: 1024, CacheSize: 1 << 20}
	d := mustOpen(t, dir, o)
	for i := 0; i < 2000; i++ {
		d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte("some value bytes"))
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	ssts := filesWithSuffix(t, dir, ".sst")
	if len(ssts) != 1 {
		t.Fatalf("want 1 sst, have %v", ssts)
	}
	// Flip a byte in a leaf page in the middle of the file.
	st, _ := os.Stat(ssts[0])
	corruptFile(t, ssts[0], st.Size()/2)

	d = mustOpen(t, dir, o)
	defer d.Close()
	var sawErr error
	for i := 0; i < 2000 && sawErr == nil; i++ {
		_, err := d.Get([]byte(fmt.Sprintf("k%05d", i)))
		if err != nil {
			sawErr = err
		}
	}
	it := d.Scan(nil, nil)
	for it.Next() {
	}
	scanErr := it.Close()
	for _, err := range []error{sawErr, scanErr} {
		if !errors.Is(err, ErrCorruption) {
			t.Fatalf("want ErrCorruption, got %v", err)
		}
		if !strings.Contains(err.Error(), filepath.Base(ssts[0])) {
			t.Fatalf("error does not name the file: %v", err)
		}
	}
}

func TestCorruptManifestAndWAL(t *testing.T) {
	for _, tc := range []struct{ name, suffix string }{{"manifest", "MANIFEST-"}, {"wal", ".log"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := mustOpen(t, dir, nil)
			for i := 0; i < 100; i++ {
				d.Put([]byte(fmt.Sprintf("k%05d", i)), []byte("value"))
			}
			d.Flush()
			for i := 0; i < 100; i++ {
				d.Put([]byte(fmt.Sprintf("j%05d", i)), []byte("value"))
			}
			d.Close()
			var path string
			if tc.suffix == ".log" {
				path = filesWithSuffix(t, dir, ".log")[0]
			} else {
				m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
				path = m[0]
			}
			corruptFile(t, path, 20) // inside the first record, not the tail
			_, err := Open(dir, nil)
			if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Fatalf("want ErrCorruption naming %s, got %v", filepath.Base(path), err)
			}
		})
	}
}

func TestLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, nil)
	defer d.Close()
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: want ErrLocked, got %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []*Options{{PageSize: 1000}, {MemtableSize: 10}, {CacheSize: 100}, {BloomBitsPerKey: 100}, {Compression: NoCompression + 1}} {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "Options.") {
			t.Fatalf("%+v: want an error naming the field, got %v", o, err)
		}
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Fatalf("Open accepted %+v", o)
		}
	}
}

func TestClosedCalls(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	d.Close()
	for name, err := range map[string]error{
		"Put": d.Put([]byte("a"), nil), "Delete": d.Delete([]byte("a")), "Flush": d.Flush(),
		"Close": d.Close(), "Write": d.Write(d.NewBatch()), "Scan": d.Scan(nil, nil).Err(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestEmptyValueAndBinaryKeys(t *testing.T) {
	d := mustOpen(t, t.TempDir(), nil)
	defer d.Close()
	keys := [][]byte{{}, {0}, {0, 0}, {0xff}, {0xff, 0xff, 0}}
	for _, k := range keys {
		if err := d.Put(k, nil); err != nil {
			t.Fatal(err)
		}
	}
	for pass := 0; pass < 2; pass++ {
		for _, k := range keys {
			v, err := d.Get(k)
			if err != nil || v == nil || len(v) != 0 {
				t.Fatalf("pass %d key %x: %v %v", pass, k, v, err)
			}
		}
		d.Flush()
	}
	if err := d.Put(make([]byte, d.MaxKeySize()+1), nil); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("big key: %v", err)
	}
}
