package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// Every experiment writes 16-byte keys and 100-byte values: data sizes are
// user bytes, entries × entrySize.
const (
	keySize   = 16
	valueSize = 100
	entrySize = keySize + valueSize
)

// makeKey writes the key of entry id into buf (keySize bytes): a hash of
// the id followed by the id, so ids written in order land at random places
// in the key space and distinct ids give distinct keys.
func makeKey(buf []byte, id uint64) []byte {
	binary.BigEndian.PutUint64(buf, mix(id))
	binary.BigEndian.PutUint64(buf[8:], id)
	return buf[:keySize]
}

// mix is the splitmix64 finalizer: a bijection on uint64 that scatters
// consecutive ids.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// absentID returns an id no loader has written (loaders write ids below
// 2^40), so its key is a zero-result lookup spread over the key space.
func absentID(rng *rand.Rand) uint64 { return 1<<40 + uint64(rng.Int63n(1<<40)) }

// fillValue writes a value for id into v: random-looking, different per id.
func fillValue(v []byte, id uint64) {
	x := id
	for i := 0; i+8 <= len(v); i += 8 {
		x = mix(x)
		binary.LittleEndian.PutUint64(v[i:], x)
	}
}

// sample is one measurement: ops operations moving bytes bytes in seconds,
// taken when the database held dataBytes of user data in entries entries.
type sample struct {
	dataBytes, entries int64
	ops, bytes         int64
	seconds            float64
}

func (s sample) opsPerSec() float64 { return float64(s.ops) / s.seconds }
func (s sample) mbPerSec() float64  { return float64(s.bytes) / s.seconds / 1e6 }

// sampleHeader names the columns of sample.cols, which every CSV carries.
var sampleHeader = []string{"data_bytes", "entries", "ops", "seconds", "ops_per_s", "mb_per_s"}

func (s sample) cols() []any {
	return []any{s.dataBytes, s.entries, s.ops, s.seconds, s.opsPerSec(), s.mbPerSec()}
}

// openDB opens a database in a new scratch directory; close closes it and
// removes the directory.
func (e *env) openDB(label string, o db.Options) (*db.DB, func() error, error) {
	dir, err := e.newDir(label)
	if err != nil {
		return nil, nil, err
	}
	if o.MemtableSize == 0 {
		o.MemtableSize = e.cfg.Memtable
	}
	if o.CacheSize == 0 {
		o.CacheSize = e.cfg.Cache
	}
	d, err := db.Open(dir, &o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	closed := false
	return d, func() error {
		if closed {
			return nil
		}
		closed = true
		err := d.Close()
		if rmErr := os.RemoveAll(dir); err == nil {
			err = rmErr
		}
		return err
	}, nil
}

// loader writes entries with ids 0, 1, 2, ... to a database.
type loader struct {
	d    *db.DB
	n    int64 // entries written
	k, v []byte
	// idOf maps the i-th put to the id it writes; nil means id i (every
	// key new). merge-policies draws ids with repeats to create updates.
	idOf func(i int64) uint64
}

func newLoader(d *db.DB) *loader {
	return &loader{d: d, k: make([]byte, keySize), v: make([]byte, valueSize)}
}

// putTo writes entries until the user data reaches size bytes and returns
// the sample of those puts.
func (l *loader) putTo(size int64) (sample, error) {
	target := size / entrySize
	first := l.n
	start := time.Now()
	for ; l.n < target; l.n++ {
		id := uint64(l.n)
		if l.idOf != nil {
			id = l.idOf(l.n)
		}
		fillValue(l.v, id)
		if err := l.d.Put(makeKey(l.k, id), l.v); err != nil {
			return sample{}, err
		}
	}
	return sample{dataBytes: l.n * entrySize, entries: l.n, ops: l.n - first, bytes: (l.n - first) * entrySize,
		seconds: time.Since(start).Seconds()}, nil
}

// dataSample returns an empty sample stamped with the loader's data size.
func (l *loader) dataSample() sample { return sample{dataBytes: l.n * entrySize, entries: l.n} }

// settle waits until the database's background work has been idle (no
// flush or merge finished, no immutable memtable) for cfg.Settle, or until
// cfg.SettleMax has passed, so that read measurements do not share the
// CPUs with a merge that the previous step's writes started.
func (e *env) settle(d *db.DB) {
	deadline := time.Now().Add(e.cfg.SettleMax)
	last := d.Metrics()
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(e.cfg.Settle / 5)
		m := d.Metrics()
		if m.Compactions != last.Compactions || m.Flushes != last.Flushes || m.ImmutableMemtables > 0 {
			last, quietSince = m, time.Now()
			continue
		}
		if time.Since(quietSince) >= e.cfg.Settle {
			return
		}
	}
}

// opFunc performs one operation and returns the bytes it moved.
type opFunc func() (int64, error)

// runOps runs goroutines workers, each calling the op newOp(w) returns, for
// dur or until maxOps operations in total, and returns the count, bytes and
// elapsed seconds.
func runOps(goroutines int, dur time.Duration, maxOps int64, newOp func(w int) opFunc) (ops, bytes int64, secs float64, err error) {
	var (
		stop     atomic.Bool
		total    atomic.Int64
		moved    atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ops0 := make([]opFunc, goroutines)
	for w := range ops0 {
		ops0[w] = newOp(w)
	}
	start := time.Now()
	timer := time.AfterFunc(dur, func() { stop.Store(true) })
	defer timer.Stop()
	for w := 0; w < goroutines; w++ {
		wg.Add(1)
		go func(op opFunc) {
			defer wg.Done()
			var n, b int64
			for !stop.Load() {
				x, err := op()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					break
				}
				n++
				b += x
				// The shared count advances in chunks of 64 to stay off
				// the cache line the other workers use.
				if n%64 == 0 && total.Add(64) >= maxOps {
					stop.Store(true)
				}
			}
			total.Add(n % 64)
			moved.Add(b)
		}(ops0[w])
	}
	wg.Wait()
	return total.Load(), moved.Load(), time.Since(start).Seconds(), firstErr
}

// getOp returns an op that gets a key: present with probability pct/100
// (a random id below n, whose value it checks), absent otherwise.
func getOp(d *db.DB, rng *rand.Rand, n int64, pct int) opFunc {
	k := make([]byte, keySize)
	want := make([]byte, valueSize)
	return func() (int64, error) {
		if rng.Intn(100) < pct {
			id := uint64(rng.Int63n(n))
			v, err := d.Get(makeKey(k, id))
			if err != nil {
				return 0, fmt.Errorf("get of present key %d: %w", id, err)
			}
			fillValue(want, id)
			if string(v) != string(want) {
				return 0, fmt.Errorf("get of key %d: wrong value", id)
			}
			return keySize + int64(len(v)), nil
		}
		if _, err := d.Get(makeKey(k, absentID(rng))); !errors.Is(err, db.ErrNotFound) {
			return 0, fmt.Errorf("get of absent key: %v", err)
		}
		return keySize, nil
	}
}

// seekOp returns an op that seeks to a random key and reads up to length
// entries forward (length 0: to the end).
func seekOp(d *db.DB, rng *rand.Rand, length int) opFunc {
	k := make([]byte, keySize)
	return func() (int64, error) {
		it := d.NewIter(nil)
		var b int64
		ok := it.SeekGE(makeKey(k, uint64(rng.Int63())))
		for i := 0; ok && (length == 0 || i < length); i++ {
			b += int64(len(it.Key()) + len(it.Value()))
			ok = it.Next()
		}
		return b, it.Close()
	}
}

// fullScan reads every entry and returns the bytes and entries read.
func fullScan(d *db.DB) (bytes, entries int64, err error) {
	it := d.Scan(nil, nil)
	for it.Next() {
		bytes += int64(len(it.Key()) + len(it.Value()))
		entries++
	}
	return bytes, entries, it.Close()
}

// levelsString summarises the tree as "L0:2 L2:1 ..." (runs per level).
func levelsString(m db.Metrics) string {
	var parts []string
	for l, lm := range m.Levels {
		if lm.Runs > 0 {
			parts = append(parts, fmt.Sprintf("L%d:%d", l, lm.Runs))
		}
	}
	return strings.Join(parts, " ")
}

// diskBytes sums the bytes of the live SSTs.
func diskBytes(m db.Metrics) uint64 {
	var b uint64
	for _, lm := range m.Levels {
		b += lm.Bytes
	}
	return b
}

// hitRatio is hits/(hits+misses) between two cache metric snapshots.
func hitRatio(before, after db.Metrics) float64 {
	h := after.Cache.Hits - before.Cache.Hits
	m := after.Cache.Misses - before.Cache.Misses
	if h+m == 0 {
		return 0
	}
	return float64(h) / float64(h+m)
}
