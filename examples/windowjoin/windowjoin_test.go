package main

import (
	"cmp"
	"slices"
	"testing"

	"github.com/seed-d6fe07da/strata/db"
)

type adder interface {
	add(side byte, e event) ([]match, error)
	advance(watermark uint64) error
}

// run feeds a stream to j, evicting every 500 events, and returns the
// matches sorted.
func run(t testing.TB, j adder, n int, keys, window uint64) []match {
	var out []match
	i := 0
	err := stream(n, keys, window, 7, func(side byte, e event, wm uint64) error {
		ms, err := j.add(side, e)
		out = append(out, ms...)
		if i++; i%500 == 0 && err == nil {
			err = j.advance(wm)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sortMatches(out)
	return out
}

func sortMatches(ms []match) {
	slices.SortFunc(ms, func(a, b match) int {
		return cmp.Or(cmp.Compare(a.left.seq, b.left.seq), cmp.Compare(a.right.seq, b.right.seq))
	})
}

// bruteForce joins by holding every event in memory.
func bruteForce(t testing.TB, n int, keys, window uint64) []match {
	var seen [2][]event
	var out []match
	stream(n, keys, window, 7, func(side byte, e event, _ uint64) error {
		s := 0
		if side == right {
			s = 1
		}
		for _, o := range seen[1-s] {
			if o.key == e.key && max(o.t, e.t)-min(o.t, e.t) <= window {
				out = append(out, pair(side, e, o))
			}
		}
		seen[s] = append(seen[s], e)
		return nil
	})
	sortMatches(out)
	return out
}

// TestJoinMatchesBruteForce: the join on sorted state and the list
// baseline both emit exactly the pairs an in-memory join finds, with
// eviction as the watermark passes; afterwards no evicted bucket is left.
func TestJoinMatchesBruteForce(t *testing.T) {
	const n, keys, window = 6_000, 20, 1_000
	want := bruteForce(t, n, keys, window)
	if len(want) < 1000 {
		t.Fatalf("only %d matches: the stream joins too little to test", len(want))
	}
	for name, mk := range map[string]func(*db.DB) adder{
		"sorted": func(d *db.DB) adder { return &joiner{d: d, window: window} },
		"lists":  func(d *db.DB) adder { return &listJoiner{d: d, window: window} },
	} {
		t.Run(name, func(t *testing.T) {
			d, err := db.Open(t.TempDir(), &db.Options{MemtableSize: 256 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			j := mk(d)
			got := run(t, j, n, keys, window)
			if !slices.Equal(got, want) {
				t.Fatalf("%d matches, want %d", len(got), len(want))
			}
			// The stream's last watermark is below its last time; evict
			// up to a time past it all and nothing of the first buckets
			// may remain.
			if err := j.advance(1 << 40); err != nil {
				t.Fatal(err)
			}
			it := d.Scan(nil, nil)
			for it.Next() {
				t.Fatalf("state left after evicting everything: %x", it.Key())
			}
			it.Close()
		})
	}
}

// BenchmarkJoin processes a stream of 50,000 events over 1,000 join keys
// with a window of 5,000 time units (about 7,000 events of a side per
// bucket): per event, a buffer write and a probe of the other side.
func BenchmarkJoin(b *testing.B) {
	for _, name := range []string{"sorted", "lists"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				d, err := db.Open(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				var j adder = &joiner{d: d, window: 5_000}
				if name == "lists" {
					j = &listJoiner{d: d, window: 5_000}
				}
				b.StartTimer()
				run(b, j, 50_000, 1_000, 5_000)
				b.StopTimer()
				d.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50_000), "ns/event")
		})
	}
}
