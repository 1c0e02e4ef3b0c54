package cache

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/seed-d6fe07da/strata/internal/base"
)

func TestPolicyString(t *testing.T) {
	if s := Policy("").String(); s != "2q" {
		t.Errorf("zero Policy prints %q, want the default", s)
	}
}

func TestValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	for field, o := range map[string]Options{
		"Capacity":     {Capacity: -1},
		"PageSize":     {PageSize: -4096},
		"Policy":       {Policy: "mru"},
		"KinFraction":  {KinFraction: 1},
		"KoutFraction": {KoutFraction: -0.5},
		"Shards":       {Shards: -2},
	} {
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "Options."+field) {
			t.Errorf("%+v: Validate = %v, want an error naming %s", o, err, field)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted invalid options")
		}
	}()
	New(Options{KinFraction: 2})
}

func TestShardCount(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, frames := range []int{16, 31, 32, 100, 1000, 1 << 16} {
		n := shardCount(0, frames)
		if n&(n-1) != 0 || n < 1 || n > 2*4*procs {
			t.Errorf("%d frames: %d shards, want a power of two near 4*GOMAXPROCS (%d)", frames, n, 4*procs)
		}
		if n > 1 && frames/n < minShardFrames {
			t.Errorf("%d frames: %d shards leave %d frames each", frames, n, frames/n)
		}
	}
	if n := shardCount(0, 1<<16); n < 4*procs {
		t.Errorf("large pool: %d shards, want at least 4*GOMAXPROCS = %d", n, 4*procs)
	}
	if n := shardCount(3, 1000); n != 3 {
		t.Errorf("explicit 3 shards: got %d", n)
	}
	if n := shardCount(64, 100); n != 6 {
		t.Errorf("explicit 64 shards for 100 frames: got %d, want 6", n)
	}
}

// TestLayout checks the slab: frames of exactly PageSize, disjoint, aligned
// to 4 KiB for a 4 KiB page size, spread over the shards with their share
// of Kin and Kout.
func TestLayout(t *testing.T) {
	const P = 4096
	pool := New(Options{Capacity: 100 * P, PageSize: P, Shards: 3, KinFraction: 0.2, KoutFraction: 1})
	if m := pool.Metrics(); m.Frames != 100 {
		t.Fatalf("Frames = %d, want 100", m.Frames)
	}
	total := 0
	seen := make(map[uintptr]bool)
	for i := range pool.shards {
		s := &pool.shards[i]
		total += s.nframes
		if s.nframes < 33 || s.nframes > 34 {
			t.Errorf("shard %d: %d frames", i, s.nframes)
		}
		if want := fractionOf(0.2, s.nframes); s.kin != want || s.ghosts.limit != s.nframes {
			t.Errorf("shard %d: kin %d kout %d for %d frames", i, s.kin, s.ghosts.limit, s.nframes)
		}
		for j := range s.frames {
			b := s.frames[j].buf
			addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			if len(b) != P || cap(b) != P || addr%slabAlign != 0 || seen[addr] {
				t.Fatalf("shard %d frame %d: len %d cap %d at %#x", i, j, len(b), cap(b), addr)
			}
			seen[addr] = true
		}
	}
	if total != 100 {
		t.Fatalf("%d frames in the shards, want 100", total)
	}
	if p := New(Options{}); p.nframes != minFrames || p.PageSize() != 4096 || p.policy != Policy2Q {
		t.Fatalf("zero Options: %d frames of %d bytes, %s", p.nframes, p.PageSize(), p.policy)
	}
}

// TestGetHitAllocs checks that a hit allocates nothing.
func TestGetHitAllocs(t *testing.T) {
	pool := New(Options{Capacity: 64 * 256, PageSize: 256})
	id := PageID{1, 1}
	load := loadID(id)
	h, err := pool.Get(id, load)
	if err != nil {
		t.Fatal(err)
	}
	h.Release()
	if n := testing.AllocsPerRun(1000, func() {
		h, err := pool.Get(id, load)
		if err != nil {
			t.Fatal(err)
		}
		h.Release()
	}); n != 0 {
		t.Fatalf("a hit makes %v allocations", n)
	}
}

// TestErrorsWrapped checks that Get's errors say which page and keep the
// cause for errors.Is.
func TestErrorsWrapped(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64})
	_, err := pool.Get(PageID{12, 37}, func([]byte) error { return errTestLoad })
	if !errors.Is(err, errTestLoad) || !strings.Contains(err.Error(), "page 37 of file 12") {
		t.Fatalf("Get = %v", err)
	}
	_, err = pool.Prefetch(12, 40, 3, func([][]byte) error { return errTestLoad })
	if !errors.Is(err, errTestLoad) || !strings.Contains(err.Error(), "pages 40-42 of file 12") {
		t.Fatalf("Prefetch = %v", err)
	}
}

// TestPrefetchRun checks where a prefetch run stops and that its pages are
// served without another load.
func TestPrefetchRun(t *testing.T) {
	pool := New(Options{Capacity: 64 * 64, PageSize: 64, Shards: 2})
	get := func(id PageID, wantLoad bool) {
		t.Helper()
		loaded := false
		h, err := pool.Get(id, func(buf []byte) error {
			loaded = true
			fillPage(buf, id, 0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Release()
		if _, err := checkPage(h.Data(), id); err != nil {
			t.Fatal(err)
		}
		if loaded != wantLoad {
			t.Fatalf("Get(%v): loaded %v, want %v", id, loaded, wantLoad)
		}
	}
	get(PageID{1, 5}, true)
	var from base.PageNum
	prefetch := func(first base.PageNum, n int) int {
		got, err := pool.Prefetch(1, first, n, func(bufs [][]byte) error {
			from = first
			for i, b := range bufs {
				fillPage(b, PageID{1, first + base.PageNum(i)}, 0)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if n := prefetch(2, 8); n != 3 || from != 2 {
		t.Fatalf("Prefetch(2, 8) loaded %d pages from %d, want 3 from 2: page 5 is resident", n, from)
	}
	if n := prefetch(5, 8); n != 0 {
		t.Fatalf("Prefetch at a resident page loaded %d pages", n)
	}
	if n := prefetch(6, 100); n != pool.maxRun {
		t.Fatalf("Prefetch(6, 100) loaded %d pages, want the cap %d", n, pool.maxRun)
	}
	for pn := base.PageNum(2); pn < 6+base.PageNum(pool.maxRun); pn++ {
		get(PageID{1, pn}, false)
	}
	if m := pool.Metrics(); m.Prefetched != uint64(3+pool.maxRun) || m.Pinned != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// TestSlabReleasedWhenUnreachable checks that an off-heap slab is unmapped
// once the pool and every handle are gone, and not while a handle is held.
func TestSlabReleasedWhenUnreachable(t *testing.T) {
	p := New(Options{Capacity: 64 * 4096, PageSize: 4096})
	rel := p.slab
	if rel == nil {
		t.Skip("frames on the Go heap on this platform")
	}
	h, err := p.Get(PageID{File: 1, Page: 1}, func(b []byte) error { b[0] = 42; return nil })
	if err != nil {
		t.Fatal(err)
	}
	p = nil
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	if rel.done.Load() {
		t.Fatal("slab released while a handle is held")
	}
	if h.Data()[0] != 42 {
		t.Fatal("page changed")
	}
	h.Release()
	h = Handle{}
	for i := 0; i < 20 && !rel.done.Load(); i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if !rel.done.Load() {
		t.Fatal("slab not released after the pool became unreachable")
	}
}

// TestCloseReleasesSlab: Close unmaps the slab at once when nothing is
// pinned, and leaves it mapped under a pin; either way the pool refuses
// Get and Prefetch afterwards.
func TestCloseReleasesSlab(t *testing.T) {
	load := func(b []byte) error { b[0] = 7; return nil }
	for _, pinned := range []bool{false, true} {
		p := New(Options{Capacity: 64 * 4096, PageSize: 4096})
		rel := p.slab
		if rel == nil {
			t.Skip("frames on the Go heap on this platform")
		}
		h, err := p.Get(PageID{File: 1, Page: 1}, load)
		if err != nil {
			t.Fatal(err)
		}
		if !pinned {
			h.Release()
		}
		p.Close()
		if rel.done.Load() == pinned {
			t.Fatalf("pinned %v: slab released %v after Close", pinned, rel.done.Load())
		}
		if pinned {
			if h.Data()[0] != 7 {
				t.Fatal("pinned page changed after Close")
			}
			h.Release()
		}
		if _, err := p.Get(PageID{File: 1, Page: 1}, load); !errors.Is(err, base.ErrClosed) {
			t.Fatalf("Get of a resident page after Close: %v, want ErrClosed", err)
		}
		if _, err := p.Get(PageID{File: 1, Page: 2}, load); !errors.Is(err, base.ErrClosed) {
			t.Fatalf("Get of a missing page after Close: %v, want ErrClosed", err)
		}
		if n, _ := p.Prefetch(1, 3, 4, func([][]byte) error { t.Fatal("Prefetch loaded after Close"); return nil }); n != 0 {
			t.Fatalf("Prefetch after Close loaded %d pages", n)
		}
		p.Close() // idempotent
	}
}

// TestZeroHandleRelease checks that releasing the zero Handle, which sst
// hands out for the pages a Reader keeps itself, changes nothing.
func TestZeroHandleRelease(t *testing.T) {
	p := New(Options{Capacity: 16 * 4096, PageSize: 4096})
	h, err := p.Get(PageID{File: 1, Page: 1}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	Handle{}.Release()
	if m := p.Metrics(); m.Pinned != 1 {
		t.Fatalf("%d pages pinned, want 1", m.Pinned)
	}
	h.Release()
	if m := p.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pages pinned, want 0", m.Pinned)
	}
}
