package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestBench(t *testing.T) {
	dir := t.TempDir() // bench creates the database
	names := "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readreverse,deleterandom"
	out, stderr, code := strata(t, "bench", dir, "--workload", names, "--n", "3000", "--threads", "2", "--value-size", "64", "--stats")
	if code != 0 || stderr != "" {
		// No progress bar: stderr is not a terminal here.
		t.Fatalf("bench: exit %d\nstderr: %s\n%s", code, stderr, out)
	}
	if !strings.HasPrefix(out, "strata bench: "+dir+", 3000 ops per workload, 16-byte keys, 64-byte values, threads 2\n") {
		t.Fatalf("bench: header\n%s", out)
	}
	for _, w := range strings.Split(names, ",") {
		re := `(?m)^` + w + ` *: +3000 ops +\d+ ops/s  p50 +\d+\.\d\d µs  p99 +\d+\.\d\d µs`
		switch w {
		case "fillseq", "fillrandom", "overwrite":
			re += ` +\d+\.\d MB/s$`
		case "readrandom", "seekrandom":
			re += `  \(3000 of 3000 found\)$` // fillseq wrote every key
		case "readmissing":
			re += `  \(0 of 3000 found\)$`
		default:
			re += `$`
		}
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("bench: no line matching %s\n%s", re, out)
		}
	}
	if !strings.Contains(out, "\nlevel  runs  files") {
		t.Fatalf("bench --stats: no metrics\n%s", out)
	}
	// The database stays for the next run, without the keys deleterandom
	// deleted.
	out, stderr, code = strata(t, "bench", dir, "--workload", "readrandom", "--n", "3000", "--quiet")
	m := regexp.MustCompile(`\((\d+) of 3000 found\)`).FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] == "0" || m[1] == "3000" {
		t.Fatalf("bench readrandom after deleterandom: exit %d: %s\n%s", code, stderr, out)
	}

	for _, args := range [][]string{
		{"bench", dir, "--workload", "fillbogus"}, {"bench", dir, "--n", "0"}, {"bench", dir, "--threads", "0"},
		{"bench", dir, "--key-size", "3"}, {"bench"},
	} {
		if _, stderr, code := strata(t, args...); code != 2 || stderr == "" {
			t.Errorf("strata %q: exit %d, stderr %q", args, code, stderr)
		}
	}
}
