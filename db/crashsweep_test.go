package db

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// The crash-point sweep cuts the power at every filesystem operation that
// changes state (create, write, sync, rename, remove, directory sync,
// truncate) of a workload whose writes flush, merge and roll the manifest
// over, on a disk that wrote back a random subset of the unsynced pages;
// then it opens what the disk kept and checks every acknowledged write and
// the files (DB.Check). WAL appends and syncs, which repeat the same two
// steps for every write, are cut at every sweepWALStride-th one.
//
// With -short it cuts at every seventh point (STRATA_CRASH_SWEEP=full cuts
// at every one regardless).

const sweepWALStride = 16

// sweepOp is one step of the workload: a put, delete or range delete.
type sweepOp struct {
	kind     int // 0 put, 1 delete, 2 range delete
	key, end []byte
	value    []byte
}

func sweepWorkload(n int) []sweepOp {
	rng := rand.New(rand.NewSource(1))
	ops := make([]sweepOp, n)
	for i := range ops {
		k := rng.Intn(600)
		key := []byte(fmt.Sprintf("key%04d", k))
		switch {
		case i%150 == 149:
			ops[i] = sweepOp{kind: 2, key: key, end: []byte(fmt.Sprintf("key%04d", k+20))}
		case i%10 == 9:
			ops[i] = sweepOp{kind: 1, key: key}
		default:
			ops[i] = sweepOp{kind: 0, key: key, value: bytes.Repeat([]byte{byte(i), byte(i >> 8), byte(k)}, 20+i%60)}
		}
	}
	return ops
}

// apply applies op to the model.
func (op sweepOp) apply(model map[string][]byte) {
	switch op.kind {
	case 0:
		model[string(op.key)] = op.value
	case 1:
		delete(model, string(op.key))
	case 2:
		for k := range model {
			if k >= string(op.key) && k < string(op.end) {
				delete(model, k)
			}
		}
	}
}

func (op sweepOp) do(d *DB) error {
	switch op.kind {
	case 0:
		return d.Put(op.key, op.value)
	case 1:
		return d.Delete(op.key)
	}
	return d.DeleteRange(op.key, op.end)
}

// touches reports whether op may change key.
func (op sweepOp) touches(key string) bool {
	if op.kind == 2 {
		return key >= string(op.key) && key < string(op.end)
	}
	return key == string(op.key)
}

func sweepOptions(fs vfs.FS) *Options {
	o := recoveryOptions(fs)
	o.maxManifestSize = 512 // roll the manifest over every few edits
	// Once the power is cut every operation fails: the workload stops at
	// its next write rather than stall behind flushes that cannot succeed.
	o.MaxImmutableMemtables = 16
	o.L0StopTrigger = 64
	o.L0SlowdownTrigger = 64
	return o
}

// sweepPoint runs the workload until the power is cut at mutating
// operation point, and returns the disk the cut left, the number of
// operations acknowledged before it, and the operations counted.
func sweepPoint(t *testing.T, ops []sweepOp, point int64) (crashed *vfs.MemFS, acked int, counted int64) {
	mem := vfs.NewMem()
	var (
		mu       sync.Mutex
		count    int64
		walCount int64
		off      atomic.Bool
		ackedN   atomic.Int64
	)
	rng := rand.New(rand.NewSource(point))
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		switch op {
		case vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpRemove, vfs.OpSyncDir, vfs.OpTruncate:
		default:
			if off.Load() {
				return vfs.ErrInjected
			}
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if off.Load() {
			return vfs.ErrInjected
		}
		if strings.HasSuffix(name, ".log") && (op == vfs.OpWrite || op == vfs.OpSync) {
			walCount++
			if walCount%sweepWALStride != 0 {
				return nil
			}
		}
		if count == point {
			crashed = mem.CrashClonePages(func(string, int) bool { return rng.Intn(2) == 0 })
			acked = int(ackedN.Load())
			off.Store(true)
			count++
			return vfs.ErrInjected
		}
		count++
		return nil
	})
	d, err := Open("/db", sweepOptions(vfs.NewFaultFS(mem, inj)))
	if err == nil {
		for _, op := range ops {
			if off.Load() || op.do(d) != nil {
				break
			}
			ackedN.Add(1)
		}
		d.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	return crashed, acked, count
}

// checkSweepPoint opens the disk a power cut left and checks it against
// the first acked operations; the operation in flight at the cut may or
// may not have happened.
func checkSweepPoint(t *testing.T, ops []sweepOp, crashed *vfs.MemFS, acked int, point int64) {
	d, err := Open("/db", sweepOptions(crashed))
	if err != nil {
		t.Fatalf("cut at operation %d (%d writes acknowledged): Open: %v", point, acked, err)
	}
	defer d.Close()
	before, after := map[string][]byte{}, map[string][]byte{}
	for _, op := range ops[:acked] {
		op.apply(before)
		op.apply(after)
	}
	var inFlight *sweepOp
	if acked < len(ops) {
		inFlight = &ops[acked]
		inFlight.apply(after)
	}
	for k := 0; k < 620; k++ {
		key := fmt.Sprintf("key%04d", k)
		got, err := d.Get([]byte(key))
		want, ok := before[key]
		if inFlight != nil && inFlight.touches(key) {
			alt, altOK := after[key]
			if (err == nil && altOK && bytes.Equal(got, alt)) || (err != nil && !altOK) {
				continue
			}
		}
		switch {
		case ok && (err != nil || !bytes.Equal(got, want)):
			t.Fatalf("cut at operation %d (%d writes acknowledged): %s: %d bytes, %v; want %d bytes", point, acked, key, len(got), err, len(want))
		case !ok && err == nil:
			t.Fatalf("cut at operation %d (%d writes acknowledged): deleted %s is back", point, acked, key)
		}
	}
	if _, err := d.Check(); err != nil {
		t.Fatalf("cut at operation %d: Check: %v", point, err)
	}
}

func TestCrashPointSweep(t *testing.T) {
	ops := sweepWorkload(4000)
	stride := int64(1)
	if testing.Short() && os.Getenv("STRATA_CRASH_SWEEP") != "full" {
		stride = 7
	}
	points := 0
	for point := int64(0); ; point += stride {
		crashed, acked, _ := sweepPoint(t, ops, point)
		if crashed == nil {
			t.Logf("%d power cuts, every %d-th of %d operations (WAL appends and syncs: every %d-th)", points, stride, point, sweepWALStride)
			return
		}
		points++
		checkSweepPoint(t, ops, crashed, acked, point)
	}
}
