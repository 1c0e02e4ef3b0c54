package bloom

import "math"

// Monkey (Dayan, Athanassoulis & Idreos, "Monkey: Optimal Navigable
// Key-Value Store", SIGMOD 2017) splits a fixed budget of filter memory over
// the runs of an LSM tree so that the sum of their false-positive rates (the
// expected number of wasted run probes for a key that is not there) is as
// small as possible. A filter with b bits per key has false-positive rate
// p = e^(-b ln²2), so it costs n·(-ln p)/ln²2 bits for n keys. Minimising
// Σ p_j subject to Σ n_j·(-ln p_j)/ln²2 = M with a Lagrange multiplier gives
// p_j = c·n_j: each run's rate is proportional to its entry count. Runs whose
// rate would reach 1 get no filter at all. We find c by bisection on ln c.

// MaxRunBitsPerKey caps the bits per key Monkey gives any run: beyond it the
// false-positive rate (below 1e-8) is not worth the memory, and the hash
// count of bloom/v3 filters is capped as well.
const MaxRunBitsPerKey = 40

// ln2Sq is ln²2, the bits-to-log-FPR factor of an optimally hashed filter.
const ln2Sq = math.Ln2 * math.Ln2

// FalsePositiveRate returns the expected false-positive rate of a filter
// with bitsPerKey bits per key and the optimal hash count: e^(-b ln²2).
// bitsPerKey <= 0 means no filter, rate 1.
func FalsePositiveRate(bitsPerKey float64) float64 {
	if !(bitsPerKey > 0) {
		return 1
	}
	return math.Exp(-bitsPerKey * ln2Sq)
}

// expectedProbes returns the expected number of runs probed in vain by a
// lookup of an absent key: the sum of the false-positive rates of the runs'
// filters. runBits holds bits per key, one entry per run.
func expectedProbes(runBits []float64) float64 {
	var sum float64
	for _, b := range runBits {
		sum += FalsePositiveRate(b)
	}
	return sum
}

// RunBits returns bits per key for each run, given each run's entry count
// and the total filter memory in bits, minimising the sum of false-positive
// rates: p_j proportional to n_j, capped at 1 (runs with p = 1 get 0 bits),
// found by bisection on the proportionality constant. Bits per key are
// capped at MaxRunBitsPerKey, so when the budget exceeds what the cap allows
// the surplus is left unused. Runs with no entries (or a negative or NaN
// count) get 0 bits.
func RunBits(runEntries []float64, totalBits float64) []float64 {
	out := make([]float64, len(runEntries))
	var total, maxN float64
	minN := math.Inf(1)
	for _, n := range runEntries {
		if n > 0 && !math.IsInf(n, 1) {
			total += n
			maxN = max(maxN, n)
			minN = min(minN, n)
		}
	}
	if total == 0 || !(totalBits > 0) {
		return out
	}
	if totalBits >= total*MaxRunBitsPerKey {
		for j, n := range runEntries {
			if n > 0 && !math.IsInf(n, 1) {
				out[j] = MaxRunBitsPerKey
			}
		}
		return out
	}
	// bitsFor fills out for proportionality constant c = e^lnC and returns
	// the memory used. It decreases as lnC grows.
	bitsFor := func(lnC float64) float64 {
		var used float64
		for j, n := range runEntries {
			out[j] = 0
			if !(n > 0) || math.IsInf(n, 1) {
				continue
			}
			lnP := lnC + math.Log(n)
			if lnP >= 0 {
				continue
			}
			b := min(-lnP/ln2Sq, MaxRunBitsPerKey)
			out[j] = b
			used += n * b
		}
		return used
	}
	// At hi every run has p >= 1 (no memory); at lo every run is at the
	// cap (more memory than the budget, checked above).
	hi := -math.Log(minN)
	lo := -math.Log(maxN) - MaxRunBitsPerKey*ln2Sq
	for range 200 {
		mid := (lo + hi) / 2
		if bitsFor(mid) > totalBits {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-13 {
			break
		}
	}
	bitsFor(hi) // hi never exceeds the budget
	return out
}

// LevelBits returns bits per key for each level 1..L (index 0 is level 1)
// of a full tree with size ratio T and L levels, K runs at each of levels
// 1..L-1 and Z runs at level L, with avgBits bits per entry on average over
// the whole tree. Level i holds (T-1)·T^(i-1) units of entries split evenly
// over its runs (Dostoevsky's fluid LSM shape; K = Z = 1 is leveling).
// Every run of a level gets the same bits per key. Invalid shapes (T <= 1,
// L < 1, K < 1 or Z < 1) return nil.
func LevelBits(T float64, L, K, Z int, avgBits float64) []float64 {
	if !(T > 1) || L < 1 || K < 1 || Z < 1 {
		return nil
	}
	var runs []float64
	var total float64
	for i := 1; i <= L; i++ {
		level := (T - 1) * math.Pow(T, float64(i-1))
		total += level
		r := K
		if i == L {
			r = Z
		}
		for range r {
			runs = append(runs, level/float64(r))
		}
	}
	bits := RunBits(runs, avgBits*total)
	out := make([]float64, L)
	j := 0
	for i := 1; i <= L; i++ {
		out[i-1] = bits[j]
		if i == L {
			j += Z
		} else {
			j += K
		}
	}
	return out
}
