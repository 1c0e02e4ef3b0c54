package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
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
	rows := readCSV(t, filepath.Join(out, "peers.csv"))
	if want := 1 + len(allEngines)*len(phases); len(rows) != want {
		t.Fatalf("peers.csv has %d rows, want %d", len(rows), want)
	}
	col := columns(rows[0])
	for _, r := range rows[1:] {
		if r[col["ops_per_sec"]] == "0" || r[col["ops_per_sec"]] == "" {
			t.Errorf("%s %s: ops/s %q", r[0], r[1], r[col["ops_per_sec"]])
		}
		if r[col["value_size"]] != "100" {
			t.Errorf("%s %s: value_size %q, want 100", r[0], r[1], r[col["value_size"]])
		}
		scan := strings.HasPrefix(r[1], "readseq")
		if p99 := r[col["p99_us"]]; (p99 == "") != scan {
			t.Errorf("%s %s: p99 %q", r[0], r[1], p99)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "peers.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Strata / best peer", "write-amp", "space-amp", "peak RSS", "load average",
		"| fillsync16 |", "p50 / p99 / p99.9", "values of 100 bytes"} {
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

// TestSweep runs the value-size sweep at a tiny scale (2000 keys of 100
// bytes down to 10 of 64 KiB) for Strata and one peer: every worker checks
// that each get returns a value of the point's size.
func TestSweep(t *testing.T) {
	out := t.TempDir()
	var stderr bytes.Buffer
	err := run([]string{"-sweep", "-sweep-scale", "0.002", "-engines", "strata,goleveldb", "-reps", "1",
		"-out", out, "-dir", t.TempDir()}, &stderr, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	rows := readCSV(t, filepath.Join(out, "sweep.csv"))
	points := len(sweepPoints()) * len(sweepRandoms())
	if want := 1 + points*2*len(phases); len(rows) != want {
		t.Fatalf("sweep.csv has %d rows, want %d", len(rows), want)
	}
	col := columns(rows[0])
	sizes := make(map[string]bool)
	for _, r := range rows[1:] {
		sizes[r[col["value_size"]]+"/"+r[col["value_random"]]] = true
	}
	if len(sizes) != points {
		t.Errorf("sweep.csv has the points %v, want %d", sizes, points)
	}
	md, err := os.ReadFile(filepath.Join(out, "sweep.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"64 KiB × 10, random 0.5", "| fillsync1 |", "**write-amp** strata",
		"**space-amp** goleveldb", "readrandom get p99", "(v4096-r1/peers.md)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("sweep.md lacks %q:\n%s", want, md)
		}
	}
	for _, p := range []string{"v100-r1", "v65536-r0.5"} {
		if _, err := os.Stat(filepath.Join(out, p, "peers.md")); err != nil {
			t.Error(err)
		}
	}
}

// TestYCSB loads 1000 records and runs 1000 operations of every YCSB
// workload on Strata and one peer.
func TestYCSB(t *testing.T) {
	out := t.TempDir()
	var stderr bytes.Buffer
	err := run([]string{"-workload", "ycsb", "-ycsb-records", "1000", "-ycsb-ops", "1000",
		"-engines", "strata,pebble", "-reps", "1", "-out", out, "-dir", t.TempDir()}, &stderr, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	rows := readCSV(t, filepath.Join(out, "ycsb.csv"))
	if want := 1 + 2*len(ycsbPhases); len(rows) != want {
		t.Fatalf("ycsb.csv has %d rows, want %d", len(rows), want)
	}
	col := columns(rows[0])
	for _, r := range rows[1:] {
		if r[col["ops_per_sec"]] == "0" || r[col["p99_us"]] == "" {
			t.Errorf("%s %s: ops/s %q, p99 %q", r[0], r[1], r[col["ops_per_sec"]], r[col["p99_us"]])
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "ycsb.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| ycsb-e |", "| ycsb-f | rmw |", "| ycsb-d | insert |", "Strata / best peer"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("ycsb.md lacks %q", want)
		}
	}
}

func TestFlagConflicts(t *testing.T) {
	for _, args := range [][]string{
		{"-sweep", "-n", "1000"},
		{"-sweep", "-value-size", "1000"},
		{"-sweep", "-workload", "ycsb"},
		{"-workload", "ycsb", "-value-random", "1"},
		{"-value-size", "0"},
		{"-workload", "nope"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// columns maps a CSV header's names to their indexes.
func columns(header []string) map[string]int {
	m := make(map[string]int)
	for i, h := range header {
		m[h] = i
	}
	return m
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

// TestPhaseFlags: the report's command line gives -reads, -seeks,
// -sync-ops and -fillseq-rounds where they are not the defaults for -n,
// and nothing where they are.
func TestPhaseFlags(t *testing.T) {
	c := config{n: 400}
	c.applyDefaults()
	if got := c.phaseFlags(); got != "" {
		t.Fatalf("defaults: %q", got)
	}
	c = config{n: 400, reads: 4000, seeks: 400, syncOps: 400, fillseqRounds: 1}
	if got, want := c.phaseFlags(), " -reads 4000 -seeks 400 -sync-ops 400 -fillseq-rounds 1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestFillseqRounds: a worker's fillseq runs -fillseq-rounds times into
// fresh databases, reports the puts of every round as one phase, and
// deletes each database.
func TestFillseqRounds(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run([]string{"-worker", "-engine", "strata", "-workload", "fillseq", "-n", "500",
		"-fillseq-rounds", "2", "-dir", dir}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res struct {
		Phases []struct {
			Name    string  `json:"name"`
			Ops     int64   `json:"ops"`
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
		FillseqWriteAmp float64 `json:"fillseq_write_amp"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(res.Phases) != 1 || res.Phases[0].Name != "fillseq" || res.Phases[0].Ops != 1000 || res.Phases[0].Seconds <= 0 {
		t.Fatalf("phases %+v, want one fillseq of 1000 puts", res.Phases)
	}
	if res.FillseqWriteAmp <= 0 {
		t.Errorf("fillseq write amplification %v", res.FillseqWriteAmp)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "fillseq*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
