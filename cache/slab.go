package cache

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// # Where the frames live
//
// On Linux the slab of frames is anonymous memory from mmap, outside the Go
// heap, as Pebble allocates its block cache by hand. A slab on the heap
// would count toward the live heap the garbage collector paces against: a
// 64 MiB pool would let the process pile up another 64 MiB of garbage
// before a collection (GOGC=100), raising its peak RSS.
//
// The slab is unmapped by Pool.Close when no frame is pinned, or else
// when nothing can reach a frame any more. A Handle points at its frame,
// and a frame lives in its shard's frames array, so each shard's array
// carries a cleanup (runtime.AddCleanup) and the last of them to be
// collected unmaps the slab. Closing matters: the cleanups run only at the
// second collection after a database closed, and a process
// that closes one database and opens another (or the same one again) would
// otherwise hold both pools until then. Page bytes a caller kept after
// Release (which the API forbids) are the one way to touch the memory
// after that.

// slabRelease unmaps a slab once every shard's frames are unreachable.
type slabRelease struct {
	free func()
	left atomic.Int32 // shards whose frames are still reachable
	done atomic.Bool  // the slab has been released (or is being)
}

func (r *slabRelease) shardGone() {
	if r.left.Add(-1) == 0 {
		r.release()
	}
}

// release unmaps the slab unless it was unmapped already: by Pool.Close,
// then again by the cleanups once the frames are unreachable.
func (r *slabRelease) release() {
	if r.done.CompareAndSwap(false, true) {
		r.free()
	}
}

// watchSlab arranges for free to run once the frames of every shard are
// unreachable. It returns nil when there is nothing to free.
func watchSlab(shards []shard, free func()) *slabRelease {
	if free == nil {
		return nil
	}
	r := &slabRelease{free: free}
	for i := range shards {
		if len(shards[i].frames) > 0 {
			r.left.Add(1)
		}
	}
	if r.left.Load() == 0 {
		r.release()
		return r
	}
	for i := range shards {
		if f := shards[i].frames; len(f) > 0 {
			runtime.AddCleanup(&f[0], (*slabRelease).shardGone, r)
		}
	}
	return r
}

// heapSlab returns n zeroed bytes on the Go heap starting at a multiple of
// align, a power of two.
func heapSlab(n, align int) []byte {
	b := make([]byte, n+align)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) & uintptr(align-1))
	if off != 0 {
		off = align - off
	}
	return b[off : off+n : off+n]
}
