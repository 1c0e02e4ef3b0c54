package db

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden databases under testdata/golden/<format>/ were written by the
// format version they are named after, with expected.txt listing every live
// key and value. TestGoldenDatabases opens a copy of each and checks every
// key, so a change that can no longer read old files fails CI. Regenerate
// (only when adding a new format version) with
//
//	STRATA_WRITE_GOLDEN=v3 go test -run TestWriteGolden ./db/
//
// v1 (no compression) was written before values were made compressible;
// v2 holds compressed values, inline and overflowed; v3 adds compact keys
// (page prefixes, uvarint trailers) and seqnums zeroed by bottommost merges.
const goldenRoot = "../testdata/golden"

func TestWriteGolden(t *testing.T) {
	version := os.Getenv("STRATA_WRITE_GOLDEN")
	if version == "" {
		t.Skip("set STRATA_WRITE_GOLDEN=<format> to regenerate")
	}
	damaged(t) // no check at the end: reopening would replay the WAL kept on purpose
	root := filepath.Join(goldenRoot, version)
	os.RemoveAll(root)
	dir := filepath.Join(root, "db")
	d := mustOpen(t, dir, &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, L0CompactionTrigger: 2})
	rng := rand.New(rand.NewSource(42))
	want := map[string]string{}
	put := func(k, v []byte) {
		if err := d.Put(k, v); err != nil {
			t.Fatal(err)
		}
		want[string(k)] = string(v)
	}
	for i := 0; i < 4000; i++ {
		k := []byte(fmt.Sprintf("key%05d", rng.Intn(3000)))
		v := make([]byte, rng.Intn(200))
		if i%97 == 0 {
			v = make([]byte, 3000) // overflow pages
		}
		rng.Read(v)
		if i%2 == 1 {
			// Compressible (from v2 on, stored compressed): a short
			// pattern repeated, or for an overflowing value half of it.
			period := 1 + rng.Intn(12)
			if len(v) == 3000 {
				period = 1500
			}
			for j := period; j < len(v); j++ {
				v[j] = v[j-period]
			}
		}
		put(k, v)
	}
	put([]byte{}, []byte("empty key"))
	put([]byte{0x00, 0xff}, nil)
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("key%05d", rng.Intn(3000))
		d.Delete([]byte(k))
		delete(want, k)
	}
	d.DeleteRange([]byte("key01000"), []byte("key01100"))
	for k := range want {
		if k >= "key01000" && k < "key01100" {
			delete(want, k)
		}
	}
	d.Flush()
	// Leave some writes in the WAL only.
	for i := 0; i < 50; i++ {
		put([]byte(fmt.Sprintf("wal%03d", i)), []byte("in the log"))
	}
	d.Close()
	os.Remove(filepath.Join(dir, "LOCK"))
	var lines []string
	for k, v := range want {
		lines = append(lines, hex.EncodeToString([]byte(k))+" "+hex.EncodeToString([]byte(v)))
	}
	if err := os.WriteFile(filepath.Join(root, "expected.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGoldenDatabases(t *testing.T) {
	versions, err := os.ReadDir(goldenRoot)
	if err != nil || len(versions) == 0 {
		t.Fatalf("no golden databases in %s: %v", goldenRoot, err)
	}
	for _, v := range versions {
		t.Run(v.Name(), func(t *testing.T) {
			root := filepath.Join(goldenRoot, v.Name())
			f, err := os.Open(filepath.Join(root, "expected.txt"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want := map[string]string{}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				fields := strings.Split(sc.Text(), " ")
				k, _ := hex.DecodeString(fields[0])
				val := ""
				if len(fields) > 1 {
					b, _ := hex.DecodeString(fields[1])
					val = string(b)
				}
				want[string(k)] = val
			}
			// Open a copy: Open writes (a new manifest, a new WAL).
			dir := t.TempDir()
			copyDir(t, filepath.Join(root, "db"), dir)
			// Default options: the page size (1 KiB) comes from the files,
			// as these manifests predate recording it.
			d := mustOpen(t, dir, nil)
			defer d.Close()
			for k, val := range want {
				got, err := d.Get([]byte(k))
				if err != nil || string(got) != val {
					t.Fatalf("key %x: %v", k, err)
				}
			}
			it := d.Scan(nil, nil)
			n := 0
			for it.Next() {
				if val, ok := want[string(it.Key())]; !ok || val != string(it.Value()) {
					t.Fatalf("scan: unexpected key %x", it.Key())
				}
				n++
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if n != len(want) {
				t.Fatalf("scan found %d keys, want %d", n, len(want))
			}
		})
	}
}
