package main

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSmoke runs every experiment at a tiny size and checks that each
// wrote a CSV with a header and rows of the header's width, and a PNG.
func TestSmoke(t *testing.T) {
	out := t.TempDir()
	tmp := t.TempDir()
	cfg := tinyConfig()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for _, x := range experiments {
		t.Run(x.name, func(t *testing.T) {
			e := &env{cfg: cfg, name: x.name, out: out, tmp: tmp}
			if err := x.run(e); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(e.csvPath())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll() // also checks every row has the header's width
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) < 2 {
				t.Fatalf("%s: %d records, want a header and rows", e.csvPath(), len(recs))
			}
			for _, c := range sampleHeader {
				found := false
				for _, h := range recs[0] {
					found = found || h == c
				}
				if !found {
					t.Errorf("%s: no column %q in %v", e.csvPath(), c, recs[0])
				}
			}
			png, err := os.ReadFile(e.pngPath())
			if err != nil {
				t.Fatal(err)
			}
			if len(png) < 8 || string(png[1:4]) != "PNG" {
				t.Fatalf("%s is not a PNG", e.pngPath())
			}
		})
	}
	// Nothing is left behind in the scratch directory.
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Errorf("scratch directories left behind: %v", left)
	}
}

type stringMode struct{ SearchMode string }

type namedMode int

func (m namedMode) String() string {
	return [...]string{"BPlusTree", "BinarySearch"}[m]
}

type stringerMode struct{ SearchMode namedMode }

type plainMode struct{ SearchMode uint8 }

type noMode struct{ Cache int }

// TestSetSearchMode checks the reflective setter against the shapes the
// option may take.
func TestSetSearchMode(t *testing.T) {
	var s stringMode
	if err := setSearchMode(&s, "binary", 1); err != nil || s.SearchMode != "binary" {
		t.Errorf("string field: %q, %v", s.SearchMode, err)
	}
	for _, m := range []struct {
		mode string
		want namedMode
	}{{"binary", 1}, {"btree", 0}} {
		st := stringerMode{SearchMode: 7}
		if err := setSearchMode(&st, m.mode, 5); err != nil || st.SearchMode != m.want {
			t.Errorf("Stringer field, %s: %d, %v", m.mode, st.SearchMode, err)
		}
	}
	p := plainMode{SearchMode: 9}
	if err := setSearchMode(&p, "binary", 3); err != nil || p.SearchMode != 3 {
		t.Errorf("plain integer field: %d, %v", p.SearchMode, err)
	}
	if err := setSearchMode(&p, "btree", 3); err != nil || p.SearchMode != 0 {
		t.Errorf("plain integer field, btree: %d, %v", p.SearchMode, err)
	}
	var n noMode
	if err := setSearchMode(&n, "binary", 1); !errors.Is(err, errNoSearchMode) {
		t.Errorf("no field: %v, want errNoSearchMode", err)
	}
	if err := setSearchMode(&n, "btree", 1); err != nil {
		t.Errorf("no field, btree: %v", err)
	}
}

func TestShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 750000: "750k", 1.5e6: "1.5M", 0.05: "0.05", 123456: "123k", 2: "2", 0.0333333: "0.0333", 1e6: "1M"} {
		if got := short(v); got != want {
			t.Errorf("short(%g) = %q, want %q", v, got, want)
		}
	}
}
