package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// golden is the v4 golden database; the read-only commands run on it in
// place and must leave it as it is.
const golden = "../../testdata/golden/v4/db"

// field returns the number after label (e.g. "point entries") at the
// start of a line of out, or -1.
func field(out, label string) int {
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestSSTDump(t *testing.T) {
	before := listing(t, golden)
	for _, v := range []string{"v1", "v4"} {
		paths, _ := filepath.Glob(filepath.Join("../../testdata/golden", v, "db", "*.sst"))
		if len(paths) == 0 {
			t.Fatalf("no %s SST", v)
		}
		for _, p := range paths {
			out, stderr, code := strata(t, "sst", "dump", p)
			if code != 0 || stderr != "" {
				t.Fatalf("sst dump %s: exit %d: %s", p, code, stderr)
			}
			version := map[string]string{"v1": "1", "v4": "4"}[v]
			if !strings.HasPrefix(out, filepath.Base(p)+": format version "+version+",") {
				t.Fatalf("sst dump %s:\n%s", p, out)
			}
			// The page types add up to the file, and the entries listed
			// to the metadata's count.
			m := regexp.MustCompile(`(\d+) pages of (\d+) bytes`).FindStringSubmatch(out)
			pages, _ := strconv.Atoi(m[1])
			sum := 0
			for _, typ := range []string{"metadata", "leaf", "overflow", "value", "range-del", "node", "value-directory", "bloom"} {
				if n := field(out, typ); n > 0 {
					sum += n
				}
			}
			entries := strings.Count(out[strings.Index(out, "\nentries:\n"):], " SET\n") + strings.Count(out[strings.Index(out, "\nentries:\n"):], " DEL\n")
			if sum != pages || entries != field(out, "point entries") || field(out, "leaf pages") != field(out, "leaf") {
				t.Fatalf("sst dump %s: %d pages by type of %d, %d entries listed\n%s", p, sum, pages, entries, out)
			}
			for _, want := range []string{"\nB+Tree: height ", "\nBloom filter: ", " hash functions, ", "  level 0: "} {
				if !strings.Contains(out, want) {
					t.Fatalf("sst dump %s: no %q\n%s", p, want, out)
				}
			}
		}
	}
	// --values prints each value after its key, quoted unless text.
	p, _ := filepath.Glob(filepath.Join(golden, "*.sst"))
	out, _, code := strata(t, "sst", "dump", "--values", p[0])
	if code != 0 || !regexp.MustCompile(`(?m)^  key\d{5} #\d+ SET\t"`).MatchString(out) {
		t.Fatalf("sst dump --values: exit %d\n%s", code, out)
	}
	if after := listing(t, golden); after != before {
		t.Fatal("sst dump changed the golden database")
	}

	// A damaged page: exit 1, naming the file and page.
	data, err := os.ReadFile(p[0])
	if err != nil {
		t.Fatal(err)
	}
	data[3*1024+200] ^= 0x10
	bad := filepath.Join(t.TempDir(), filepath.Base(p[0]))
	os.WriteFile(bad, data, 0o644)
	want(t, 1, "", filepath.Base(p[0])+" page 3", "sst", "dump", bad)
	// Not an SST, missing, bad usage: exit 2 (not an SST is corruption: 1).
	want(t, 1, "", "", "sst", "dump", filepath.Join(golden, "CURRENT"))
	want(t, 2, "", "no such file", "sst", "dump", "/nonexistent.sst")
	want(t, 2, "", "want 1 arguments", "sst", "dump")
}

func TestManifestDump(t *testing.T) {
	before := listing(t, golden)
	out, stderr, code := strata(t, "manifest", "dump", golden)
	if code != 0 || stderr != "" || !strings.HasPrefix(out, "MANIFEST-000001 (1679 bytes, named by CURRENT)\n\nedit 0 at offset 0 (snapshot)\n") {
		t.Fatalf("manifest dump: exit %d: %s\n%s", code, stderr, out)
	}
	edits := strings.Count(out, "\nedit ")
	if !strings.Contains(out, "\n"+strconv.Itoa(edits)+" edits, 1679 bytes\n") {
		t.Fatalf("manifest dump: %d edits listed\n%s", edits, out)
	}
	// The state the edits build is the one stats reports.
	stats, _, _ := strata(t, "stats", golden)
	for _, l := range []string{"0", "1", "2"} {
		m := regexp.MustCompile(`(?m)^\s+` + l + `\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(stats)
		line := "  L" + l + ": " + m[1] + " runs, " + m[2] + " files, " + m[3] + " bytes, " + m[4] + " entries\n"
		if !strings.Contains(out, line) {
			t.Fatalf("manifest dump lacks %q of stats\n%s\n%s", line, stats, out)
		}
	}
	for _, want := range []string{"\n  page size        1024\n", "\n  remove L0 ", " run ", "\n      keys key"} {
		if !strings.Contains(out, want) {
			t.Fatalf("manifest dump: no %q\n%s", want, out)
		}
	}
	if after := listing(t, golden); after != before {
		t.Fatal("manifest dump changed the golden database")
	}

	// A manifest file given by name, with a torn tail: reported, not an
	// error. A damaged record before the end: exit 1.
	data, err := os.ReadFile(filepath.Join(golden, "MANIFEST-000001"))
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(t.TempDir(), "MANIFEST-000001")
	os.WriteFile(torn, append(data[:len(data):len(data)], 40, 0, 0, 0, 1, 2, 3, 4, 1, 2), 0o644)
	out, stderr, code = strata(t, "manifest", "dump", torn)
	if code != 0 || !strings.Contains(out, " edits, 1679 bytes; a torn tail of 10 bytes follows") || strings.Contains(out, "named by CURRENT") {
		t.Fatalf("manifest dump of a torn manifest: exit %d: %s\n%s", code, stderr, out)
	}
	data[120] ^= 0x01 // in the payload of the record at offset 97
	os.WriteFile(torn, data, 0o644)
	out, stderr, code = strata(t, "manifest", "dump", torn)
	if code != 1 || !strings.Contains(stderr, "MANIFEST-000001 offset 97: checksum mismatch") || !strings.Contains(out, "\nedit 2 at offset 27\n") {
		t.Fatalf("manifest dump of a damaged manifest: exit %d: %s\n%s", code, stderr, out)
	}
	want(t, 2, "", "not a Strata database", "manifest", "dump", t.TempDir())
	want(t, 2, "", "want 1 arguments", "manifest", "dump")
}

func TestStats(t *testing.T) {
	before := listing(t, golden)
	out, stderr, code := strata(t, "stats", golden)
	if code != 0 || stderr != "" {
		t.Fatalf("stats: exit %d: %s", code, stderr)
	}
	for _, re := range []string{
		`^level  runs  files        bytes      entries  bloom-bits/key\n`,
		`\n    0     2      2        53248          725           12\.\d\d\n`,
		`\ntotal     4      4       247808         2819            9\.\d\d\n`,
		`\nmemtable: \d+ bytes, from 50 records of 1 WALs\n`,
		`\nread amplification: 5 runs\n`,
		`\nspace amplification: 1\.86 \(all levels / level 2\)\n`,
		`\nbloom filters: \d+ bytes\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("stats: no match for %s\n%s", re, out)
		}
	}
	want(t, 2, "", "not a Strata database", "stats", t.TempDir())

	// The other read-only commands on the golden database, whose WAL
	// holds writes no SST has: they read it and leave it as it is.
	if out, _, code := strata(t, "scan", golden, "--start", "wal", "--limit", "2"); code != 0 || !strings.HasPrefix(out, "wal000\t") {
		t.Fatalf("scan of the golden WAL's keys: exit %d\n%s", code, out)
	}
	want(t, 0, "in the log\n", "", "get", golden, "wal049")
	if out, stderr, code := strata(t, "check", "--read-only", golden); code != 0 || !strings.HasPrefix(out, "ok: 4 files,") {
		t.Fatalf("check --read-only: exit %d: %s\n%s", code, stderr, out)
	}
	if after := listing(t, golden); after != before {
		t.Fatal("the read-only commands changed the golden database")
	}
}
