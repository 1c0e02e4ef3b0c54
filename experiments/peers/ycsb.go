package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// The YCSB core workloads (Cooper et al., "Benchmarking Cloud Serving
// Systems with YCSB", SoCC 2010) as YCSB's CoreWorkload runs them with its
// defaults: keys "user" + the decimal FNV-1a-64 hash of the record number
// (insertorder=hashed), so inserts land all over the key space; zipfian
// requests with constant 0.99, scrambled so that the popular records are
// spread over the key space; scan lengths uniform in [1, 100].
//
// Differences from YCSB, all forced by a key-value API: a record is one
// 1000-byte value (YCSB: 10 fields of 100 bytes); an update is a put of a
// whole new record (YCSB updates one field, which its RocksDB binding
// turns into a read and a write of the record); the values are random
// printable bytes, incompressible as YCSB's are.
const (
	ycsbRecordSize = 1000
	ycsbClients    = 4
	ycsbMaxScan    = 100
	// zipfianConstant is YCSB's ZIPFIAN_CONSTANT.
	zipfianConstant = 0.99
	// scrambledItems and scrambledZetan are YCSB's
	// ScrambledZipfianGenerator.ITEM_COUNT and its precomputed
	// zeta(ITEM_COUNT+1, 0.99), which no run can afford to sum.
	scrambledItems = 10_000_000_000
	scrambledZetan = 26.46902820178302
)

// ycsbWorkload is one core workload: the proportions of its operation
// types and its request distribution.
type ycsbWorkload struct {
	name                            string
	read, update, insert, scan, rmw float64
	// latest picks records with YCSB's skewed-latest distribution
	// (workload D) instead of the scrambled zipfian.
	latest bool
}

// ycsbWorkloads maps the workload letter to its definition (YCSB's
// workloads/workloada ... workloadf).
func ycsbWorkloads() map[string]ycsbWorkload {
	return map[string]ycsbWorkload{
		"a": {name: "a", read: 0.5, update: 0.5},
		"b": {name: "b", read: 0.95, update: 0.05},
		"c": {name: "c", read: 1},
		"d": {name: "d", read: 0.95, insert: 0.05, latest: true},
		"e": {name: "e", scan: 0.95, insert: 0.05},
		"f": {name: "f", read: 0.5, rmw: 0.5},
	}
}

// ycsbPhases in the order a worker runs them: YCSB's recommended sequence
// (load, A, B, C, F, D; then a fresh load for E, since D's inserts would
// otherwise change E's data).
var ycsbPhases = []string{"ycsb-load", "ycsb-a", "ycsb-b", "ycsb-c", "ycsb-f", "ycsb-d", "ycsb-load-e", "ycsb-e"}

// choose returns the operation type for u uniform in [0, 1), as YCSB's
// DiscreteGenerator does: the types in a fixed order, each taking its
// share of the unit interval.
func (wl ycsbWorkload) choose(u float64) string {
	for _, c := range []struct {
		op string
		p  float64
	}{{"read", wl.read}, {"update", wl.update}, {"insert", wl.insert}, {"scan", wl.scan}, {"rmw", wl.rmw}} {
		if u < c.p {
			return c.op
		}
		u -= c.p
	}
	return "read" // u beyond the sum only through rounding
}

// ycsb loads -ycsb-records records and runs A, B, C, F, D on them, then
// loads a fresh database and runs E.
func (w *worker) ycsb() error {
	wls := ycsbWorkloads()
	if err := w.ycsbDatabase("ycsb", "ycsb-load", wls["a"], wls["b"], wls["c"], wls["f"], wls["d"]); err != nil {
		return err
	}
	return w.ycsbDatabase("ycsb-e", "ycsb-load-e", wls["e"])
}

// ycsbDatabase loads a fresh database in dirName (phase load), runs the
// workloads on it in turn, closes and deletes it.
func (w *worker) ycsbDatabase(dirName, load string, runs ...ycsbWorkload) error {
	dir := filepath.Join(w.cfg.dir, dirName)
	e, _, err := w.open(dir)
	if err != nil {
		return err
	}
	vals := newValues(w.cfg.seed+3, 1, ycsbRecordSize)
	records := int64(w.cfg.ycsbRecords)
	err = w.phase(load, func() (outcome, error) {
		// YCSB's load hands out record numbers from one shared counter.
		var next atomic.Int64
		return fanOut(ycsbClients, int(records), func(_, share int) (outcome, error) {
			o := outcome{lat: newLatencies()}
			kb := make([]byte, 0, 32)
			for range share {
				k := next.Add(1) - 1
				key := ycsbKey(kb[:0], k)
				t := o.lat.start()
				err := e.put(key, vals.at(uint64(k)))
				o.lat.stop(t)
				if err != nil {
					return o, err
				}
				o.ops++
				o.bytes += int64(len(key) + ycsbRecordSize)
			}
			return o, nil
		})
	})
	for _, wl := range runs {
		if err != nil {
			break
		}
		err = w.ycsbRun(e, wl, records, vals)
	}
	if cerr := e.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// ycsbClient is one of the client goroutines of a run.
type ycsbClient struct {
	r *rand.Rand
	// choose draws a record number from the request distribution.
	choose func() int64
}

// ycsbRun runs -ycsb-ops operations of wl over ycsbClients goroutines on
// a database that holds records records.
func (w *worker) ycsbRun(e engine, wl ycsbWorkload, records int64, vals *values) error {
	name := "ycsb-" + wl.name
	ops := w.cfg.ycsbOps
	// YCSB's transactioninsertkeysequence: inserts take the numbers from
	// records on, and reads choose only among acknowledged ones.
	inserts := newAckCounter(records)
	clients := make([]ycsbClient, ycsbClients)
	for j := range clients {
		r := w.rng(name, j)
		c := ycsbClient{r: r}
		if wl.latest {
			g := newSkewedLatest(inserts)
			c.choose = func() int64 { return g.next(r) }
		} else {
			// The key space includes twice the expected inserts (YCSB's
			// "fudge factor"), so that it need not change during the run;
			// numbers not yet inserted are drawn again.
			expectedNew := int64(float64(ops) * wl.insert * 2)
			g := newScrambledZipfian(0, records+expectedNew)
			c.choose = func() int64 { return g.next(r) }
		}
		clients[j] = c
	}
	return w.phase(name, func() (outcome, error) {
		return fanOut(ycsbClients, ops, func(j, share int) (outcome, error) {
			c := clients[j]
			o := outcome{lat: newLatencies(), byOp: make(map[string]*latencies)}
			kb := make([]byte, 0, 32)
			// keynum is YCSB's nextKeynum: a record that is surely there.
			keynum := func() int64 {
				for {
					if k := c.choose(); k <= inserts.last() {
						return k
					}
				}
			}
			for range share {
				op := wl.choose(c.r.Float64())
				var (
					key     []byte
					scanLen int
					insertK int64
				)
				switch op {
				case "insert":
					insertK = inserts.next()
					key = ycsbKey(kb[:0], insertK)
				case "scan":
					key = ycsbKey(kb[:0], keynum())
					scanLen = 1 + c.r.IntN(ycsbMaxScan)
				default:
					key = ycsbKey(kb[:0], keynum())
				}
				v := vals.at(c.r.Uint64())

				t := o.lat.start()
				var (
					found   bool
					entries int
					bytes   int64
					err     error
				)
				switch op {
				case "read":
					found, err = e.get(key)
				case "update", "insert":
					err = e.put(key, v)
				case "scan":
					entries, bytes, err = e.seekNext(key, scanLen-1)
				case "rmw":
					if found, err = e.get(key); err == nil && found {
						err = e.put(key, v)
					}
				}
				d := o.lat.since(t)

				if err != nil {
					return o, fmt.Errorf("%s %s: %w", op, key, err)
				}
				switch op {
				case "read", "rmw":
					if !found {
						return o, fmt.Errorf("%s: record %s not found", op, key)
					}
					o.found++
					o.bytes += int64(len(key) + ycsbRecordSize)
				case "scan":
					if entries == 0 {
						return o, fmt.Errorf("scan from record %s found nothing", key)
					}
					o.found += int64(entries)
					o.bytes += bytes
				case "insert":
					inserts.acknowledge(insertK)
				}
				if op != "read" && op != "scan" {
					o.bytes += int64(len(key) + ycsbRecordSize)
				}
				o.ops++
				o.lat.record(d)
				if o.byOp[op] == nil {
					o.byOp[op] = newLatencies()
				}
				o.byOp[op].record(d)
			}
			return o, nil
		})
	})
}

// ycsbKey appends the key of record k to buf: YCSB's buildKeyName with
// hashed insert order and no zero padding.
func ycsbKey(buf []byte, k int64) []byte {
	return strconv.AppendInt(append(buf, "user"...), fnvHash64(k), 10)
}

// fnvHash64 is YCSB's Utils.fnvhash64: FNV-1 over the 8 bytes of v, low
// byte first, made non-negative with Java's Math.abs.
func fnvHash64(v int64) int64 {
	const (
		offsetBasis = 0xCBF29CE484222325
		prime       = 1099511628211
	)
	h := uint64(offsetBasis)
	for range 8 {
		h ^= uint64(v & 0xff)
		v >>= 8
		h *= prime
	}
	s := int64(h)
	if s < 0 {
		s = -s // as Math.abs, math.MinInt64 stays negative
	}
	return s
}

// zipfian is YCSB's ZipfianGenerator, transcribed: the algorithm of Gray
// et al., "Quickly Generating Billion-Record Synthetic Databases"
// (SIGMOD 1994), where item base is the most popular, base+1 the next,
// and so on. math/rand/v2's Zipf is not used because it needs an exponent
// above 1 and YCSB's constant is 0.99. Unlike YCSB's, one zipfian must
// not be shared between goroutines: each client has its own.
type zipfian struct {
	// items and base are the constructor's range.
	items, base int64
	theta       float64
	alpha       float64
	zeta2theta  float64
	zetan       float64
	eta         float64
	// countForZeta is the item count zetan was summed over.
	countForZeta int64
}

// newZipfian draws from [min, max] given zetan, the sum of 1/i^0.99 for
// i from 1 to max-min+1.
func newZipfian(min, max int64, zetan float64) *zipfian {
	z := &zipfian{items: max - min + 1, base: min, theta: zipfianConstant}
	z.zeta2theta = zeta(0, 2, z.theta, 0)
	z.alpha = 1 / (1 - z.theta)
	z.zetan = zetan
	z.countForZeta = z.items
	z.eta = (1 - math.Pow(2/float64(z.items), 1-z.theta)) / (1 - z.zeta2theta/z.zetan)
	return z
}

// zeta adds 1/i^theta for i from st+1 to n to initial.
func zeta(st, n int64, theta, initial float64) float64 {
	sum := initial
	for i := st; i < n; i++ {
		sum += 1 / math.Pow(float64(i+1), theta)
	}
	return sum
}

// nextLong draws from the first itemcount items. A count larger than
// the last one extends zetan incrementally; a smaller one is used with
// the larger zetan, as in YCSB (allowitemcountdecrease=false), which also
// keeps the constructor's item count in eta.
func (z *zipfian) nextLong(r *rand.Rand, itemcount int64) int64 {
	if itemcount > z.countForZeta {
		z.zetan = zeta(z.countForZeta, itemcount, z.theta, z.zetan)
		z.countForZeta = itemcount
		z.eta = (1 - math.Pow(2/float64(z.items), 1-z.theta)) / (1 - z.zeta2theta/z.zetan)
	}
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return z.base
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return z.base + 1
	}
	return z.base + int64(float64(itemcount)*math.Pow(z.eta*u-z.eta+1, z.alpha))
}

// scrambledZipfian is YCSB's ScrambledZipfianGenerator: a zipfian over
// 10^10 items hashed onto [min, max], so the popular records are
// scattered.
type scrambledZipfian struct {
	gen            *zipfian
	min, itemcount int64
}

func newScrambledZipfian(min, max int64) *scrambledZipfian {
	return &scrambledZipfian{gen: newZipfian(0, scrambledItems, scrambledZetan), min: min, itemcount: max - min + 1}
}

func (s *scrambledZipfian) next(r *rand.Rand) int64 {
	return s.min + fnvHash64(s.gen.nextLong(r, s.gen.items))%s.itemcount
}

// skewedLatest is YCSB's SkewedLatestGenerator: the most recently
// inserted record is the most popular, the one before it the next, and
// so on (zipfian over the distance from the latest).
type skewedLatest struct {
	basis *ackCounter
	z     *zipfian
}

func newSkewedLatest(basis *ackCounter) *skewedLatest {
	items := basis.last()
	return &skewedLatest{basis: basis, z: newZipfian(0, items-1, zeta(0, items, zipfianConstant, 0))}
}

func (s *skewedLatest) next(r *rand.Rand) int64 {
	max := s.basis.last()
	return max - s.z.nextLong(r, max)
}

// ackCounter is YCSB's AcknowledgedCounterGenerator: next hands out
// insert numbers in order, and last is the highest number that was
// acknowledged together with every number below it, so that a request
// never chooses a record whose insert has not finished.
type ackCounter struct {
	counter atomic.Int64
	// limit is last(); written only with mu held.
	limit atomic.Int64
	mu    struct {
		sync.Mutex
		// pending holds the acknowledged numbers above limit+1.
		pending map[int64]bool
	}
}

// newAckCounter starts handing out numbers at start, with every number
// below it acknowledged.
func newAckCounter(start int64) *ackCounter {
	c := &ackCounter{}
	c.counter.Store(start)
	c.limit.Store(start - 1)
	c.mu.pending = make(map[int64]bool)
	return c
}

func (c *ackCounter) next() int64 { return c.counter.Add(1) - 1 }

func (c *ackCounter) last() int64 { return c.limit.Load() }

func (c *ackCounter) acknowledge(v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.pending[v] = true
	l := c.limit.Load()
	for c.mu.pending[l+1] {
		delete(c.mu.pending, l+1)
		l++
	}
	c.limit.Store(l)
}
