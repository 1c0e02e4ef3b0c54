package main

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestYCSBKey checks the first key YCSB's load writes.
func TestYCSBKey(t *testing.T) {
	if got := string(ycsbKey(nil, 0)); got != "user6284781860667377211" {
		t.Errorf("ycsbKey(0) = %s", got)
	}
}

// TestZipfian checks the two most popular items' frequencies, which Gray
// et al.'s method gives exactly: 1/zeta(n) and 2^-0.99/zeta(n).
func TestZipfian(t *testing.T) {
	const n, draws = 1000, 400_000
	zn := zeta(0, n, zipfianConstant, 0)
	z := newZipfian(0, n-1, zn)
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	for range draws {
		x := z.nextLong(r, n)
		if x < 0 || x >= n {
			t.Fatalf("draw %d outside [0, %d)", x, n)
		}
		counts[x]++
	}
	for i, want := range []float64{1 / zn, math.Pow(2, -zipfianConstant) / zn} {
		if got := float64(counts[i]) / draws; math.Abs(got-want) > 0.05*want {
			t.Errorf("item %d: frequency %.4f, want %.4f", i, got, want)
		}
	}
}

// TestScrambledZipfian checks the range and that the most popular record
// is hash(0) mod the item count, drawn about 1/zetan of the time.
func TestScrambledZipfian(t *testing.T) {
	const n, draws = 1000, 200_000
	z := newScrambledZipfian(0, n-1)
	r := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, n)
	for range draws {
		x := z.next(r)
		if x < 0 || x >= n {
			t.Fatalf("draw %d outside [0, %d)", x, n)
		}
		counts[x]++
	}
	top := fnvHash64(0) % n
	want := 1 / scrambledZetan
	if got := float64(counts[top]) / draws; math.Abs(got-want) > 0.1*want {
		t.Errorf("record %d: frequency %.4f, want about %.4f", top, got, want)
	}
}

// TestSkewedLatest checks that the latest record is the most popular and
// that draws follow the inserts.
func TestSkewedLatest(t *testing.T) {
	c := newAckCounter(1000)
	g := newSkewedLatest(c)
	r := rand.New(rand.NewPCG(5, 6))
	for _, last := range []int64{999, 1099} {
		for c.last() < last {
			c.acknowledge(c.next())
		}
		counts := make(map[int64]int)
		for range 100_000 {
			x := g.next(r)
			if x < 0 || x > last {
				t.Fatalf("draw %d outside [0, %d]", x, last)
			}
			counts[x]++
		}
		if counts[last] <= counts[last-1] || counts[last-1] <= counts[last-10] {
			t.Errorf("last %d: counts %d, %d, %d not falling with age", last, counts[last], counts[last-1], counts[last-10])
		}
	}
}

// TestAckCounter acknowledges numbers out of order from several
// goroutines: last never passes a number not yet acknowledged.
func TestAckCounter(t *testing.T) {
	c := newAckCounter(10)
	if c.last() != 9 {
		t.Fatalf("last = %d, want 9", c.last())
	}
	held := c.next() // 10, acknowledged only at the end
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				c.acknowledge(c.next())
			}
		})
	}
	wg.Wait()
	if c.last() != 9 {
		t.Fatalf("last = %d before 10 was acknowledged", c.last())
	}
	c.acknowledge(held)
	if c.last() != 4010 {
		t.Fatalf("last = %d, want 4010", c.last())
	}
}

// TestChoose checks the operation mix of workload B.
func TestChoose(t *testing.T) {
	b := ycsbWorkloads()["b"]
	r := rand.New(rand.NewPCG(7, 8))
	counts := make(map[string]int)
	for range 100_000 {
		counts[b.choose(r.Float64())]++
	}
	if len(counts) != 2 || math.Abs(float64(counts["update"])/100_000-0.05) > 0.005 {
		t.Errorf("workload B mix %v", counts)
	}
}
