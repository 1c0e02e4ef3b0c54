package main

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/seed-d6fe07da/strata/db"
)

// TestNearestMatchesScan compares the outward walk with the full scan at
// random targets, the ends of the series and beyond them, across a flush.
func TestNearestMatchesScan(t *testing.T) {
	d, err := db.Open(t.TempDir(), &db.Options{MemtableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 20_000, 2); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	targets := []uint64{0, 19_999_999, 25_000_000}
	for range 200 {
		targets = append(targets, uint64(rng.Int63n(21_000_000)))
	}
	for _, target := range targets {
		for _, k := range []int{1, 7, 50} {
			got, err := nearest(d, target, k)
			if err != nil {
				t.Fatal(err)
			}
			want, err := nearestByScan(d, target, k)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("target %d, k %d: walk %v, scan %v", target, k, got, want)
			}
		}
	}
}

// BenchmarkNearest: the 10 nearest of 200,000 events by the outward walk
// and by the scan.
func BenchmarkNearest(b *testing.B) {
	d, err := db.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 200_000, 1); err != nil {
		b.Fatal(err)
	}
	for name, f := range map[string]func(*db.DB, uint64, int) ([]event, error){"walk": nearest, "scan": nearestByScan} {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(4))
			for b.Loop() {
				if _, err := f(d, uint64(rng.Int63n(200_000_000)), 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
