package bloom

import (
	"math"
	"testing"
)

func TestLevelBitsWorkedExample(t *testing.T) {
	// DESIGN.md §4: T=4, L=7, leveling, 10 bits per entry on average.
	got := LevelBits(4, 7, 1, 1, 10)
	want := []float64{26.4, 23.5, 20.6, 17.7, 14.8, 11.9, 9.0}
	if len(got) != len(want) {
		t.Fatalf("got %d levels, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.1 {
			t.Errorf("level %d: %.2f bits, want %.1f", i+1, got[i], want[i])
		}
	}
	monkey := expectedProbes(got)
	uniform := expectedProbes([]float64{10, 10, 10, 10, 10, 10, 10})
	if math.Abs(monkey-0.017) > 0.001 || math.Abs(uniform-0.057) > 0.001 {
		t.Errorf("expected probes: monkey %.4f (want 0.017), uniform %.4f (want 0.057)", monkey, uniform)
	}
	checkMemory(t, 4, 7, 1, 1, 10, got)
}

// checkMemory checks the levels' bits add up to avgBits per entry overall.
func checkMemory(t *testing.T, T float64, L, K, Z int, avg float64, bits []float64) {
	t.Helper()
	var total, used float64
	for i := 1; i <= L; i++ {
		n := (T - 1) * math.Pow(T, float64(i-1))
		total += n
		used += n * bits[i-1]
	}
	if math.Abs(used/total-avg) > 1e-6 {
		t.Errorf("T=%v L=%d K=%d Z=%d: %.6f bits per entry used, want %v", T, L, K, Z, used/total, avg)
	}
}

func TestLevelBitsShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		T       float64
		L, K, Z int
		avg     float64
	}{
		{"leveling", 10, 5, 1, 1, 5},
		{"tiering", 4, 6, 3, 3, 10},
		{"lazy leveling", 10, 4, 9, 1, 8},
		{"few bits", 4, 7, 1, 1, 1},
		{"one level", 4, 1, 1, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bits := LevelBits(tc.T, tc.L, tc.K, tc.Z, tc.avg)
			for i := 1; i < len(bits); i++ {
				if bits[i] > bits[i-1]+1e-9 {
					t.Fatalf("bits not monotone: %v", bits)
				}
			}
			for _, b := range bits {
				if b < 0 || b > MaxRunBitsPerKey {
					t.Fatalf("bits out of range: %v", bits)
				}
			}
			checkMemory(t, tc.T, tc.L, tc.K, tc.Z, tc.avg, bits)
			// Monkey never does worse than uniform bits.
			var runs, uniform []float64
			for i, b := range bits {
				r := tc.K
				if i == len(bits)-1 {
					r = tc.Z
				}
				for range r {
					runs = append(runs, b)
					uniform = append(uniform, tc.avg)
				}
			}
			if m, u := expectedProbes(runs), expectedProbes(uniform); m > u+1e-12 {
				t.Fatalf("monkey probes %.5f > uniform %.5f", m, u)
			}
		})
	}
}

func TestRunBitsEdges(t *testing.T) {
	if got := RunBits(nil, 100); len(got) != 0 {
		t.Fatalf("no runs: %v", got)
	}
	got := RunBits([]float64{10, 0, -1, math.NaN()}, 0)
	for _, b := range got {
		if b != 0 {
			t.Fatalf("no memory: %v", got)
		}
	}
	// More memory than the cap allows: every real run at the cap.
	got = RunBits([]float64{10, 0, 20}, 1e6)
	if got[0] != MaxRunBitsPerKey || got[1] != 0 || got[2] != MaxRunBitsPerKey {
		t.Fatalf("capped: %v", got)
	}
	// Very little memory: the largest run gets no filter, memory preserved.
	got = RunBits([]float64{1, 1e6}, 20)
	if got[1] != 0 || math.Abs(got[0]-20) > 1e-6 {
		t.Fatalf("scarce: %v", got)
	}
	// Equal runs get equal bits.
	got = RunBits([]float64{5, 5, 5}, 150)
	for _, b := range got {
		if math.Abs(b-10) > 1e-6 {
			t.Fatalf("equal runs: %v", got)
		}
	}
	if LevelBits(1, 3, 1, 1, 10) != nil || LevelBits(4, 0, 1, 1, 10) != nil || LevelBits(4, 3, 0, 1, 10) != nil {
		t.Fatal("invalid shapes should return nil")
	}
}

func TestFalsePositiveRate(t *testing.T) {
	if FalsePositiveRate(0) != 1 || FalsePositiveRate(-3) != 1 {
		t.Fatal("no bits should mean rate 1")
	}
	if got := FalsePositiveRate(10); math.Abs(got-0.00819) > 1e-4 {
		t.Fatalf("FPR(10) = %v", got)
	}
}
