package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// TestMain lets the test binary serve as the child, as the soak binary
// does: the parent re-executes os.Args[0] with -child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(childMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func testConfig(t *testing.T, out *bytes.Buffer) config {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config{
		duration: 4 * time.Second, dir: t.TempDir(), seed: 1,
		keys: 4000, writers: 2, pageSize: 1024,
		killMin: 50 * time.Millisecond, killMax: 700 * time.Millisecond,
		reportEvery: time.Hour, out: out, exe: exe, verbose: true,
	}
}

// TestSoak runs the soak for four seconds: several children killed at
// random, each followed by a full check.
func TestSoak(t *testing.T) {
	var out bytes.Buffer
	tot, err := runSoak(testConfig(t, &out))
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", tot)
	if tot.kills < 2 || tot.restarts < tot.kills+tot.cleanStops {
		t.Errorf("%d kills, %d clean stops, %d restarts: want at least 2 kills, a restart after each", tot.kills, tot.cleanStops, tot.restarts)
	}
	if tot.ops == 0 || tot.acked["put"] == 0 {
		t.Errorf("%d ops, %d puts acknowledged: the children did nothing", tot.ops, tot.acked["put"])
	}
	if tot.losses != 0 || tot.errors != 0 {
		t.Errorf("%d losses, %d errors", tot.losses, tot.errors)
	}
}

// TestCheckFindsLosses checks the checker: a database that misses an
// acknowledged put, shows half of a batch in flight, and holds a key the
// soak never wrote gives three losses, which are then repaired; an
// operation in flight that did not happen is no loss.
func TestCheckFindsLosses(t *testing.T) {
	var out bytes.Buffer
	cfg := testConfig(t, &out)
	cfg.keys = 1000
	s := &soak{cfg: cfg, root: cfg.dir, dbDir: filepath.Join(cfg.dir, "db"), oracle: make([]uint64, cfg.keys), nextOp: 1,
		t: totals{acked: map[string]uint64{}}}
	log := strings.Join([]string{
		"I 1 0 put P5", "A 1",
		"I 2 0 put P6", "A 2", // acknowledged, missing from the database: a loss
		"I 3 1 batch P600 P601", // in flight, half applied: a loss
		"I 4 0 del D7",          // in flight, not applied: fine
		"I 5 0 put P8",          // torn intent: ignored
	}, "\n")
	logPath := filepath.Join(cfg.dir, "ops.log")
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	s.oracle[7] = version(0xabc, 0)
	d, err := db.Open(s.dbDir, dbOptions(cfg.pageSize, false, "snappy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []struct {
		i   int
		ver uint64
	}{{5, version(1, 0)}, {600, version(3, 0)}, {7, version(0xabc, 0)}} {
		if err := d.Put(keyOf(kv.i), valueFor(kv.i, kv.ver)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put([]byte("stray"), nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := s.check(1, logPath)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.losses != 3 || r.acked != 2 || r.inFlight != 2 {
		t.Errorf("losses %d, acked %d, in flight %d; want 3, 2, 2", r.losses, r.acked, r.inFlight)
	}
	for _, want := range []string{"key 6", "op 3 (batch", "\"stray\""} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not mention %s", want)
		}
	}
	if s.nextOp != 5 {
		t.Errorf("next op %d, want 5 (above every id in the log but the torn one)", s.nextOp)
	}

	// The repair left the database as the oracle says.
	out.Reset()
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = s.check(2, logPath); err != nil || r.losses != 0 {
		t.Fatalf("after the repair: %d losses, err %v\n%s", r.losses, err, out.String())
	}
}
