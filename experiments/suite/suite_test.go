package main

import (
	"encoding/csv"
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

func TestShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 750000: "750k", 1.5e6: "1.5M", 0.05: "0.05", 123456: "123k", 2: "2", 0.0333333: "0.0333", 1e6: "1M"} {
		if got := short(v); got != want {
			t.Errorf("short(%g) = %q, want %q", v, got, want)
		}
	}
}
