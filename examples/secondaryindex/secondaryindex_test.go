package main

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/seed-d6fe07da/strata/db"
)

// TestIndexMatchesScan: after inserts, moves and removals (across
// flushes and merges), every city range the index answers equals the
// scan of every record, and no entry lacks its record.
func TestIndexMatchesScan(t *testing.T) {
	d, err := db.Open(t.TempDir(), &db.Options{MemtableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 8_000, 200, 2); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	ranges := [][2]string{{"", ""}, {cityName(0), cityName(1)}, {cityName(199), ""}, {cityName(50), cityName(60)}}
	for range 50 {
		a, b := rng.Intn(200), rng.Intn(200)
		ranges = append(ranges, [2]string{cityName(min(a, b)), cityName(max(a, b))})
	}
	for _, r := range ranges {
		got, err := byCities(d, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		want, err := byCitiesScan(d, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("cities [%q, %q): index %d users, scan %d", r[0], r[1], len(got), len(want))
		}
	}
}

// BenchmarkQueryCity: the users of one city of 1,000 (about 100 of
// 100,000) by the index and by the scan.
func BenchmarkQueryCity(b *testing.B) {
	d, err := db.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 100_000, 1_000, 1); err != nil {
		b.Fatal(err)
	}
	for name, f := range map[string]func(*db.DB, string, string) ([]user, error){"index": byCities, "scan": byCitiesScan} {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(4))
			for b.Loop() {
				c := rng.Intn(1000)
				if _, err := f(d, cityName(c), cityName(c+1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
