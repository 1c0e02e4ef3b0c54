package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the driver's worker: the driver
// re-executes os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString("peers worker: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestHarness runs the whole comparison on 2000 keys, one repetition, and
// checks the three outputs.
func TestHarness(t *testing.T) {
	out := t.TempDir()
	var stderr bytes.Buffer
	err := run([]string{"-n", "2000", "-reps", "1", "-out", out, "-dir", t.TempDir()}, &stderr, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	f, err := os.Open(filepath.Join(out, "peers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(allEngines)*len(phases); len(rows) != want {
		t.Fatalf("peers.csv has %d rows, want %d", len(rows), want)
	}
	for _, r := range rows[1:] {
		if r[4] == "0" || r[4] == "" {
			t.Errorf("%s %s: ops/s %q", r[0], r[1], r[4])
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "peers.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Strata / best peer", "write-amp", "space-amp", "peak RSS", "load average"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("peers.md lacks %q", want)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "peers.png")); err != nil || st.Size() == 0 {
		t.Errorf("peers.png: %v", err)
	}
	// One progress line per phase and engine.
	if got, want := strings.Count(stderr.String(), " ops/s "), len(allEngines)*len(phases); got != want {
		t.Errorf("%d progress lines, want %d:\n%s", got, want, stderr.String())
	}
}

func TestPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 10, 1000, 4097} {
		p := newPermutation(n, 7)
		seen := make([]bool, n)
		for i := range n {
			x := p.at(i)
			if x >= n || seen[x] {
				t.Fatalf("n=%d: at(%d) = %d repeats or is out of range", n, i, x)
			}
			seen[x] = true
		}
	}
}

func TestKeys(t *testing.T) {
	var a, b [keySize]byte
	if got := string(makeKey(a[:], 21)); got != "0000000000000042" {
		t.Errorf("makeKey(21) = %s", got)
	}
	if got := string(missingKey(b[:], 21)); got != "0000000000000043" {
		t.Errorf("missingKey(21) = %s", got)
	}
}
