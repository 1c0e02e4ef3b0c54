package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// newDB creates a database in a new directory, puts kvs (key, value,
// key, value, ...) and closes it.
func newDB(t *testing.T, kvs ...string) string {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		if err := d.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// want runs the binary and fails unless it exits with code and prints
// stdout exactly (and, when stderrHas is not empty, stderr holding it).
func want(t *testing.T, code int, stdout, stderrHas string, args ...string) {
	t.Helper()
	out, errOut, got := strata(t, args...)
	if got != code || out != stdout || (stderrHas != "" && !strings.Contains(errOut, stderrHas)) {
		t.Fatalf("strata %q: exit %d, want %d\nstdout: %q\nwant:   %q\nstderr: %s", args, got, code, out, stdout, errOut)
	}
}

func TestPutGetDeleteScan(t *testing.T) {
	dir := newDB(t, "apple", "red", "banana", "yellow")
	want(t, 0, "red\n", "", "get", dir, "apple")
	want(t, 1, "", "cherry: not found", "get", dir, "cherry")
	want(t, 0, "", "", "put", dir, "cherry", "dark red")
	want(t, 0, "dark red\n", "", "get", dir, "cherry")
	// Flags after the arguments, and "--" before a key that looks like one.
	want(t, 0, "", "", "put", dir, "--", "-k", "minus")
	want(t, 0, "minus\n", "", "get", dir, "--", "-k")

	// Bytes that are not text: --hex and --quote take them, and text
	// output quotes them.
	want(t, 0, "", "", "put", "--hex", dir, "00ff", "0a09")
	want(t, 0, "0a09\n", "", "get", "--hex", dir, "00ff")
	want(t, 0, "\"\\n\\t\"\n", "", "get", dir, "--quote", `"\x00\xff"`)
	want(t, 0, "\"\\n\\t\"\n", "", "get", dir, "--quote", `\x00\xff`)
	want(t, 0, "", "", "put", "--quote", dir, `tab\tkey`, `"\"quoted\""`)
	want(t, 0, "\"\\\"quoted\\\"\"\n", "", "get", "--quote", dir, `tab\tkey`)

	all := "\"\\x00\\xff\"\t\"\\n\\t\"\n-k\tminus\napple\tred\nbanana\tyellow\ncherry\tdark red\n\"tab\\tkey\"\t\"\\\"quoted\\\"\"\n"
	want(t, 0, all, "", "scan", dir)
	want(t, 0, "apple\tred\nbanana\tyellow\n", "", "scan", dir, "--start", "apple", "--end", "c")
	want(t, 0, "cherry\tdark red\nbanana\tyellow\n", "", "scan", "--reverse", "--limit", "2", "--end", "cherry!", dir)
	want(t, 0, "6170706c65\t726564\n", "", "scan", "--hex", "--start", "61", "--limit", "1", dir)
	want(t, 0, "\"apple\"\t\"red\"\n", "", "scan", "--quote", "--start", "apple", "--limit", "1", dir)

	want(t, 0, "", "", "delete", dir, "apple")
	want(t, 0, "", "", "delete", dir, "never-written")
	want(t, 1, "", "not found", "get", dir, "apple")
	want(t, 0, "banana\tyellow\n", "", "scan", dir, "--start", "apple", "--end", "c")
}

func TestKVUsage(t *testing.T) {
	dir := newDB(t, "k", "v")
	fresh := filepath.Join(t.TempDir(), "new")
	for _, args := range [][]string{
		{"get", dir}, {"get", dir, "k", "extra"}, {"put", dir, "k"}, {"delete", dir},
		{"scan"}, {"scan", dir, "--limit", "-1"}, {"scan", dir, "--bogus"},
		{"get", "--hex", dir, "zz"}, {"get", "--quote", dir, `"\q"`}, {"get", "--hex", "--quote", dir, "00"},
		{"get", t.TempDir(), "k"}, {"put", fresh, "k", "v"}, {"delete", fresh, "k"},
		{"scan", "/nonexistent/strata"},
	} {
		_, stderr, code := strata(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("strata %q: exit %d, stderr %q", args, code, stderr)
		}
	}
	// put and delete never create a database.
	if _, err := os.Stat(fresh); err == nil {
		t.Error("put created a database")
	}
}

// TestReadOnlyBesideWriter holds a database open in this process, as a
// running application would, and runs the read-only commands on it: they
// see every acknowledged write, flushed or only in the WAL, and change
// nothing; the commands that write are refused the lock.
func TestReadOnlyBesideWriter(t *testing.T) {
	dir := t.TempDir()
	d, err := db.Open(dir, &db.Options{MemtableSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 0; i < 2000; i++ {
		if err := d.Put(fmt.Appendf(nil, "key%05d", i), fmt.Appendf(nil, "value %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	// Written after the flush: only in the WAL, and not synced.
	if err := d.Put([]byte("unsynced"), []byte("in the WAL only")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete([]byte("key00007")); err != nil {
		t.Fatal(err)
	}
	before := settledListing(t, dir)

	want(t, 0, "value 42\n", "", "get", dir, "key00042")
	want(t, 0, "in the WAL only\n", "", "get", dir, "unsynced")
	want(t, 1, "", "not found", "get", dir, "key00007")
	want(t, 0, "key00005\tvalue 5\nkey00006\tvalue 6\nkey00008\tvalue 8\n", "", "scan", dir, "--start", "key00005", "--limit", "3")
	out, stderr, code := strata(t, "stats", dir)
	if code != 0 || !strings.Contains(out, "from 2 records of 1 WALs") {
		t.Errorf("stats: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = strata(t, "check", "--read-only", dir)
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("check --read-only: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = strata(t, "manifest", "dump", dir)
	if code != 0 || !strings.Contains(out, "add L0 ") {
		t.Errorf("manifest dump: exit %d\n%s%s", code, out, stderr)
	}
	if after := listing(t, dir); after != before {
		t.Errorf("the read-only commands changed the directory:\n%s\nafter:\n%s", before, after)
	}

	// The lock keeps out the commands that write, and check's recovery.
	for _, args := range [][]string{{"put", dir, "k", "v"}, {"delete", dir, "k"}, {"check", dir}, {"bench", "--n", "10", dir}} {
		want(t, 2, "", "locked", args...)
	}
	if _, err := d.Get([]byte("k")); err == nil {
		t.Error("a put went through beside the writer")
	}
}

// listing returns the names and contents' hashes of the files in dir.
// (Not their times: the writer's mapped WAL may touch its own.)
// settledListing is listing once the writer's background work has
// finished changing dir: after Flush returns, the old WAL is still being
// sealed, then removed.
func settledListing(t *testing.T, dir string) string {
	t.Helper()
	l := listing(t, dir)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		next := listing(t, dir)
		if next == l {
			return l
		}
		l = next
	}
	t.Fatal("the directory did not settle")
	return ""
}

func listing(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %x\n", e.Name(), len(data), sha256.Sum256(data))
	}
	return b.String()
}

// TestReadOnlyBesideBusyWriter runs get and scan while this process
// writes, flushes and merges with small memtables, so that WALs last
// milliseconds: each run sees every write made before it started (the
// open tries again when the writer removes a file under it), or, rarely,
// fails with exit status 2 because it lost a file for good.
func TestReadOnlyBesideBusyWriter(t *testing.T) {
	dir := t.TempDir()
	d, err := db.Open(dir, &db.Options{MemtableSize: 256 << 10, L0CompactionTrigger: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var written atomic.Int64 // keys [0, written) are acknowledged
	put := func(i int64) {
		if err := d.Put(fmt.Appendf(nil, "key%07d", i), fmt.Appendf(nil, "value %d with some padding to fill memtables", i)); err != nil {
			t.Error(err)
		}
		written.Store(i + 1)
	}
	for i := int64(0); i < 3000; i++ {
		put(i)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := written.Load(); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			put(i)
		}
	}()
	defer func() { close(stop); <-done }()
	retried := 0
	for run := 0; run < 8; run++ {
		n := written.Load()
		key := fmt.Sprintf("key%07d", n-1)
		args := []string{"get", dir, key}
		if run%2 == 1 {
			args = []string{"scan", dir, "--start", key, "--limit", "1"}
		}
		out, stderr, code := strata(t, args...)
		switch {
		case code == 2 && strings.Contains(stderr, "no such file"):
			retried++
		case code != 0 || !strings.Contains(out, fmt.Sprintf("value %d with", n-1)):
			t.Fatalf("strata %q beside a busy writer: exit %d\nstdout: %s\nstderr: %s", args, code, out, stderr)
		}
	}
	if retried > 2 {
		t.Errorf("%d of 8 runs met a file removed under them", retried)
	}
	if m := d.Metrics(); m.Flushes == 0 {
		t.Errorf("the writer never flushed while the commands ran: %+v", m.Levels)
	}
}
