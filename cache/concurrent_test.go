package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// within fails t if fn does not return within d: the pool must never block a
// Get on another reader's pin.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v (deadlock?)", what, d)
	}
}

// TestConcurrentMissOneLoad sends bursts of readers at one missing page and
// checks that each burst causes one load and every reader sees the page.
func TestConcurrentMissOneLoad(t *testing.T) {
	const readers = 16
	pool := New(Options{Capacity: 256 * 128, PageSize: 128})
	for burst := range 20 {
		id := PageID{File: 1, Page: base.PageNum(burst)}
		var loads atomic.Int32
		start := make(chan struct{})
		errs := make(chan error, readers)
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				<-start
				h, err := pool.Get(id, func(buf []byte) error {
					loads.Add(1)
					time.Sleep(2 * time.Millisecond)
					fillPage(buf, id, 0)
					return nil
				})
				if err == nil {
					_, err = checkPage(h.Data(), id)
					h.Release()
				}
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Fatalf("burst %d: %d loads of %v, want 1", burst, n, id)
		}
	}
	if m := pool.Metrics(); m.Pinned != 0 || m.Hits+m.Misses != 20*readers {
		t.Fatalf("metrics %+v: want no pins and %d Gets", m, 20*readers)
	}
}

// TestConcurrentFailedLoad checks that readers waiting on a failing load get
// its error and that nothing is cached.
func TestConcurrentFailedLoad(t *testing.T) {
	const readers = 16
	pool := New(Options{Capacity: 64 * 128, PageSize: 128, Shards: 1})
	id := PageID{File: 1, Page: 7}
	var loads atomic.Int32
	start := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			<-start
			h, err := pool.Get(id, func(buf []byte) error {
				loads.Add(1)
				time.Sleep(2 * time.Millisecond)
				fillPage(buf, id, 0) // written, then refused: must not be served
				return errTestLoad
			})
			if err == nil {
				h.Release()
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, errTestLoad) {
			t.Fatalf("Get = %v, want the load's error", err)
		}
	}
	if n := loads.Load(); n < 1 || n > readers {
		t.Fatalf("%d loads", n)
	}
	sn := pool.snapshotShard(0)
	if len(sn.pins) != 0 || sn.free != 64 || sn.pinned != 0 {
		t.Fatalf("after failed loads: %d resident, %d free, %d pinned", len(sn.pins), sn.free, sn.pinned)
	}
	t.Logf("%d readers shared %d loads", readers, loads.Load())
}

// TestConcurrentStress runs readers, prefetchers and an evicter together
// under -race. Loads stamp the page with its file's generation; the evicter
// bumps a generation before evicting the file, so a reader whose Get starts
// after an eviction must see a generation at least that new. Files 1 and 2
// are never evicted, so their loads of one page must never overlap.
func TestConcurrentStress(t *testing.T) {
	const (
		files   = 4
		pages   = 64
		readers = 8
		ops     = 1500
		P       = 128
	)
	pool := New(Options{Capacity: 96 * P, PageSize: P, Shards: 4})
	var gen, evicted [files + 1]atomic.Uint64
	var inflight [files + 1][pages]atomic.Int32
	var failure atomic.Pointer[error]
	fail := func(err error) { failure.CompareAndSwap(nil, &err) }
	load := func(id PageID) func([]byte) error {
		return func(buf []byte) error {
			if id.File <= 2 {
				if inflight[id.File][id.Page].Add(1) != 1 {
					fail(fmt.Errorf("two concurrent loads of %v", id))
				}
				defer inflight[id.File][id.Page].Add(-1)
			}
			time.Sleep(time.Duration(rand.IntN(20)) * time.Microsecond)
			fillPage(buf, id, gen[id.File].Load())
			return nil
		}
	}
	check := func(h Handle, id PageID, minGen uint64) {
		g, err := checkPage(h.Data(), id)
		if err != nil {
			fail(err)
		} else if g < minGen {
			fail(fmt.Errorf("%v: generation %d, evicted up to %d: stale page", id, g, minGen))
		}
	}

	stop := make(chan struct{})
	var evicter sync.WaitGroup
	evicter.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			f := base.FileNum(3 + rand.IntN(2))
			g := gen[f].Add(1)
			if g%2 == 0 {
				pool.EvictFile(f)
			} else {
				pool.EvictPages(f, pages)
			}
			evicted[f].Store(g)
			time.Sleep(50 * time.Microsecond)
		}
	})

	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			var held []Handle
			for range ops {
				id := PageID{File: base.FileNum(1 + rng.IntN(files)), Page: base.PageNum(rng.IntN(pages))}
				if rng.IntN(8) == 0 && id.Page+4 <= pages {
					minGen := evicted[id.File].Load()
					_, err := pool.Prefetch(id.File, id.Page, 4, func(bufs [][]byte) error {
						for i, b := range bufs {
							if err := load(PageID{id.File, id.Page + base.PageNum(i)})(b); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						fail(err)
					}
					for i := range base.PageNum(4) {
						pid := PageID{id.File, id.Page + i}
						h, err := pool.Get(pid, load(pid))
						if err != nil {
							fail(err)
							continue
						}
						check(h, pid, minGen)
						h.Release()
					}
					continue
				}
				minGen := evicted[id.File].Load()
				h, err := pool.Get(id, load(id))
				if err != nil {
					fail(err)
					continue
				}
				check(h, id, minGen)
				// Hold up to two pages a while, as an iterator would.
				held = append(held, h)
				if len(held) > 2 {
					held[0].Release()
					held = held[1:]
				}
			}
			for _, h := range held {
				h.Release()
			}
		})
	}
	within(t, 60*time.Second, "stress", wg.Wait)
	close(stop)
	evicter.Wait()
	if err := failure.Load(); err != nil {
		t.Fatal(*err)
	}
	m := pool.Metrics()
	if m.Pinned != 0 {
		t.Fatalf("%d frames pinned after every reader released", m.Pinned)
	}
	t.Logf("%+v", m)
	for i := range pool.shards {
		sn := pool.snapshotShard(i)
		if n := len(sn.pins) + sn.free; n != pool.shards[i].nframes {
			t.Fatalf("shard %d: %d resident + %d free != %d frames", i, len(sn.pins), sn.free, pool.shards[i].nframes)
		}
	}
}

// TestAllPinned checks that Get fails at once, without waiting, when every
// frame of the shard is pinned, and works again after a Release.
func TestAllPinned(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64, Shards: 1})
	var held []Handle
	for i := range 16 {
		id := PageID{1, base.PageNum(i)}
		h, err := pool.Get(id, loadID(id))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	extra := PageID{2, 0}
	within(t, 5*time.Second, "Get with every frame pinned", func() {
		_, err := pool.Get(extra, loadID(extra))
		if !errors.Is(err, ErrAllPinned) {
			t.Errorf("Get = %v, want ErrAllPinned", err)
		}
	})
	if n, err := pool.Prefetch(2, 0, 4, func([][]byte) error { return errTestLoad }); n != 0 || err != nil {
		t.Fatalf("Prefetch with every frame pinned = %d, %v; want 0, nil", n, err)
	}
	// A pinned page is still a hit.
	h, err := pool.Get(PageID{1, 3}, loadID(PageID{1, 3}))
	if err != nil {
		t.Fatal(err)
	}
	h.Release()
	held[5].Release()
	h, err = pool.Get(extra, loadID(extra))
	if err != nil {
		t.Fatalf("Get after a Release: %v", err)
	}
	if _, err := checkPage(h.Data(), extra); err != nil {
		t.Fatal(err)
	}
	h.Release()
	for i, h := range held {
		if i != 5 {
			h.Release()
		}
	}
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pinned", m.Pinned)
	}
}

// TestAllPinnedByLoads checks that frames pinned by loads in progress count
// as pinned: a Get needing a frame fails rather than waiting for them.
func TestAllPinnedByLoads(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64, Shards: 1})
	unblock := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 16 {
		id := PageID{1, base.PageNum(i)}
		wg.Go(func() {
			h, err := pool.Get(id, func(buf []byte) error {
				<-unblock
				fillPage(buf, id, 0)
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			h.Release()
		})
	}
	for pool.Metrics().Pinned < 16 {
		time.Sleep(time.Millisecond)
	}
	within(t, 5*time.Second, "Get while every frame is loading", func() {
		_, err := pool.Get(PageID{2, 0}, loadID(PageID{2, 0}))
		if !errors.Is(err, ErrAllPinned) {
			t.Errorf("Get = %v, want ErrAllPinned", err)
		}
	})
	close(unblock)
	wg.Wait()
}

// TestAllPinnedContention has more readers than frames, each holding its
// page a while: every Get succeeds or fails with ErrAllPinned, none blocks.
func TestAllPinnedContention(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64, Shards: 1})
	var pinnedErrs, ok atomic.Int64
	var wg sync.WaitGroup
	for r := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			for range 200 {
				id := PageID{1, base.PageNum(rng.IntN(48))}
				h, err := pool.Get(id, func(buf []byte) error {
					time.Sleep(10 * time.Microsecond)
					fillPage(buf, id, 0)
					return nil
				})
				switch {
				case errors.Is(err, ErrAllPinned):
					pinnedErrs.Add(1)
					continue
				case err != nil:
					t.Error(err)
					return
				}
				if _, err := checkPage(h.Data(), id); err != nil {
					t.Error(err)
				}
				time.Sleep(20 * time.Microsecond)
				h.Release()
				ok.Add(1)
			}
		})
	}
	within(t, 30*time.Second, "contended Gets", wg.Wait)
	t.Logf("%d Gets served, %d refused with ErrAllPinned", ok.Load(), pinnedErrs.Load())
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pinned", m.Pinned)
	}
}

// TestEvictFileWhileLoading checks that EvictFile during a load keeps the
// loaded page from the table: the loader gets its bytes, a later Get loads
// the page afresh, and the dropped frame is freed by its last Release.
func TestEvictFileWhileLoading(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64, Shards: 1})
	id := PageID{5, 1}
	started, unblock := make(chan struct{}), make(chan struct{})
	type result struct {
		h   Handle
		err error
	}
	res := make(chan result, 1)
	go func() {
		h, err := pool.Get(id, func(buf []byte) error {
			close(started)
			<-unblock
			fillPage(buf, id, 1)
			return nil
		})
		res <- result{h, err}
	}()
	<-started
	pool.EvictFile(id.File)
	close(unblock)
	old := <-res
	if old.err != nil {
		t.Fatal(old.err)
	}
	h, err := pool.Get(id, func(buf []byte) error {
		fillPage(buf, id, 2)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, err := checkPage(h.Data(), id); err != nil || g != 2 {
		t.Fatalf("Get after EvictFile: generation %d, %v; want a fresh load", g, err)
	}
	if g, err := checkPage(old.h.Data(), id); err != nil || g != 1 {
		t.Fatalf("dropped frame: generation %d, %v; want its own load", g, err)
	}
	// Cycle the pool: the dropped frame must not be reused while pinned.
	for i := range 64 {
		other := PageID{6, base.PageNum(i)}
		h, err := pool.Get(other, loadID(other))
		if err != nil {
			t.Fatal(err)
		}
		h.Release()
	}
	if g, err := checkPage(old.h.Data(), id); err != nil || g != 1 {
		t.Fatalf("dropped frame after cycling the pool: generation %d, %v", g, err)
	}
	old.h.Release()
	h.Release()
	sn := pool.snapshotShard(0)
	if sn.pinned != 0 || len(sn.pins)+sn.free != 16 {
		t.Fatalf("%d pinned, %d resident, %d free", sn.pinned, len(sn.pins), sn.free)
	}
}

// TestLoadPanics checks that a panicking load leaves no frame pinned or
// loading: waiters get an error, and the page can be loaded again.
func TestLoadPanics(t *testing.T) {
	pool := New(Options{Capacity: 16 * 64, PageSize: 64, Shards: 1})
	id := PageID{1, 1}
	started, unblock := make(chan struct{}), make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		pool.Get(id, func([]byte) error {
			close(started)
			<-unblock
			panic("boom")
		})
	}()
	<-started
	waiterErr := make(chan error, 1)
	go func() {
		_, err := pool.Get(id, loadID(id))
		waiterErr <- err
	}()
	for pool.snapshotShard(0).pins[id] < 2 {
		time.Sleep(time.Millisecond)
	}
	close(unblock)
	if p := <-panicked; p != "boom" {
		t.Fatalf("recovered %v, want the load's panic", p)
	}
	if err := <-waiterErr; !errors.Is(err, errLoadPanicked) {
		t.Fatalf("waiter got %v, want errLoadPanicked", err)
	}
	h, err := pool.Get(id, loadID(id))
	if err != nil {
		t.Fatal(err)
	}
	h.Release()
	if m := pool.Metrics(); m.Pinned != 0 {
		t.Fatalf("%d pinned", m.Pinned)
	}
}
