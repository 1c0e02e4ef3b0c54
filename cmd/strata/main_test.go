package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// binary is the strata command built once for the tests, which run it as
// an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "strata")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// strata runs the binary and returns its stdout, stderr and exit status.
func strata(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// goldenCopy copies the v3 golden database (testdata/golden) into a new
// directory: check opens it, and Open writes.
func goldenCopy(t *testing.T) string {
	t.Helper()
	src := "../../testdata/golden/v3/db"
	dst := t.TempDir()
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
	return dst
}

func TestCheckHealthy(t *testing.T) {
	stdout, stderr, code := strata(t, "check", goldenCopy(t))
	if code != 0 || !regexp.MustCompile(`^ok: [1-9]\d* files, \d+ pages, \d+ entries checked\n$`).MatchString(stdout) {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestCheckDamaged(t *testing.T) {
	dir := goldenCopy(t)
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no SST in the golden database")
	}
	victim := ssts[0]
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	data[1024+500] ^= 0x20 // inside the first leaf (1 KiB pages)
	os.WriteFile(victim, data, 0o644)
	stdout, stderr, code := strata(t, "check", dir)
	if code != 1 || !strings.Contains(stdout, filepath.Base(victim)+" page 1") || !strings.Contains(stdout, "1 problems:") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"check"}, {"check", "a", "b"}, {"frobnicate"}, {"check", t.TempDir()}, {"check", "/nonexistent/strata"}} {
		_, stderr, code := strata(t, args...)
		if code != 2 || stderr == "" {
			t.Fatalf("strata %q: exit %d, stderr %q", args, code, stderr)
		}
	}
	if stdout, _, code := strata(t, "help"); code != 0 || !strings.Contains(stdout, "check DIR") {
		t.Fatalf("help: exit %d: %s", code, stdout)
	}
}

// TestHelp checks that help lists every command and that each prints its
// usage for -h, on stdout with exit status 0.
func TestHelp(t *testing.T) {
	out, _, code := strata(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(strings.TrimSpace(c.name+" "+c.args)) + ` +\S`).MatchString(out) {
			t.Errorf("help does not list %q:\n%s", c.name, out)
		}
		if c.name == "help" {
			continue
		}
		args := append(strings.Fields(c.name), "-h")
		usage, stderr, code := strata(t, args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(usage, "usage: strata "+c.name+" "+c.args) {
			t.Errorf("strata %q: exit %d, stderr %q\n%s", args, code, stderr, usage)
		}
	}
	if _, stderr, code := strata(t, "sst", "frob"); code != 2 || !strings.Contains(stderr, `want "sst dump"`) {
		t.Errorf("sst frob: exit %d: %s", code, stderr)
	}
}
