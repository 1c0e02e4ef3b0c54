package db

import (
	"math/rand"
	"sync"
	"sync/atomic"

	"github.com/seed-d6fe07da/strata/vfs"
)

// powerCut wraps a MemFS to cut the power at its point-th state-changing
// operation (create, write, sync, rename, remove, link, mkdir, directory
// sync, truncate) counted from Arm, on a disk that wrote back a random
// subset of the unsynced pages: what survived is Crashed, and every
// operation after the cut fails. Background goroutines share it, so it
// is safe for concurrent use.
type powerCut struct {
	mem     *vfs.MemFS
	point   int
	rng     *rand.Rand
	armed   atomic.Bool
	mu      sync.Mutex
	ops     int
	crashed *vfs.MemFS
}

func newPowerCut(mem *vfs.MemFS, point int) *powerCut {
	return &powerCut{mem: mem, point: point, rng: rand.New(rand.NewSource(int64(point)))}
}

// FS returns the filesystem to open the database on.
func (p *powerCut) FS() vfs.FS { return vfs.NewFaultFS(p.mem, vfs.InjectorFunc(p.inject)) }

// Arm starts counting operations.
func (p *powerCut) Arm() { p.armed.Store(true) }

// Crashed returns the disk the cut left, or nil if the operations counted
// since Arm never reached the point.
func (p *powerCut) Crashed() *vfs.MemFS {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashed
}

func (p *powerCut) inject(op vfs.Op, _ string) error {
	switch op {
	case vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpRemove, vfs.OpSyncDir, vfs.OpTruncate, vfs.OpLink, vfs.OpMkdir:
	default:
		return nil
	}
	if !p.armed.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.crashed == nil && p.ops == p.point {
		p.crashed = p.mem.CrashClonePages(func(string, int) bool { return p.rng.Intn(2) == 0 })
	}
	p.ops++
	if p.crashed != nil {
		return vfs.ErrInjected // the machine is off
	}
	return nil
}
