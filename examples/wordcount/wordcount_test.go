package main

import (
	"encoding/binary"
	"math/rand"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// TestKilledRunsCountExactlyOnce runs the built command, kills it with
// SIGKILL part way, several times, then lets a run finish: every count is
// what the whole stream gives, so no window was lost or counted twice.
func TestKilledRunsCountExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	bin := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "db")
	const windows = 60
	rng := rand.New(rand.NewSource(1))
	kills := 0
	for range 4 {
		cmd := exec.Command(bin, "-dir", dir, "-windows", "60", "-pause", "5ms")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.Intn(150)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	if out, err := exec.Command(bin, "-dir", dir, "-windows", "60").CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}

	want := make(map[string]uint64)
	for w := range windows {
		for word, n := range windowCounts(w) {
			want[word] += n
		}
	}
	d, err := db.Open(dir, options())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if next, err := nextWindow(d); err != nil || next != windows {
		t.Fatalf("next window %d, %v; want %d", next, err, windows)
	}
	for word, n := range want {
		v, err := d.Get(countKey(word))
		if err != nil || binary.BigEndian.Uint64(v) != n {
			t.Fatalf("after %d kills: %s counted %x, %v; want %d", kills, word, v, err, n)
		}
	}
	t.Logf("%d runs killed part way, %d words counted exactly", kills, len(want))
}

// BenchmarkCommitWindow: one window of 200 lines (about 1,000 distinct
// words) committed as merge operands, and by a Get and a Put per word.
// The windows' counts are computed before the timer starts; with
// SyncWrites each commit also pays one fsync.
func BenchmarkCommitWindow(b *testing.B) {
	var counts []map[string]uint64
	for w := range 50 {
		counts = append(counts, windowCounts(w))
	}
	for name, commit := range map[string]func(*db.DB, int, map[string]uint64) error{"merge": commitWindow, "get-put": commitWindowGetPut} {
		b.Run(name, func(b *testing.B) {
			d, err := db.Open(b.TempDir(), options())
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			w := 0
			for b.Loop() {
				if err := commit(d, w, counts[w%len(counts)]); err != nil {
					b.Fatal(err)
				}
				w++
			}
		})
	}
}
