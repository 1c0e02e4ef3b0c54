package db

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestConcurrentReadersDuringCompactions runs many goroutines doing gets, scans
// and reverse iterations while a writer keeps flushes and merges replacing
// files (and evicting their pages from the pool). Every key holds a value
// derived from the key and a generation, so a reader can check what it sees
// is consistent; some values span enough pages to be read around the pool.
// Run under -race in CI.
func TestConcurrentReadersDuringCompactions(t *testing.T) {
	for _, policy := range []CachePolicy{Cache2Q, CacheLRU} {
		t.Run(policy.String(), func(t *testing.T) {
			o := &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 512 << 10, Experimental: Experimental{CachePolicy: policy},
				L0CompactionTrigger: 2, TargetFileSize: 32 << 10, FS: vfs.NewMem()}
			d := mustOpen(t, "/db", o)
			defer d.Close()
			const keys = 2000
			val := func(k, gen int) []byte {
				n := k % 50
				switch {
				case k%97 == 0:
					n = 70 << 10 // read around the pool, two runs of pages
				case k%7 == 0:
					n = 5 << 10 // read around the pool, one run
				}
				return []byte(fmt.Sprintf("%05d-gen%d-%s-end%05d", k, gen, bytes.Repeat([]byte("v"), n), k))
			}
			for k := 0; k < keys; k++ {
				d.Put([]byte(fmt.Sprintf("k%05d", k)), val(k, 0))
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			errc := make(chan error, 32)
			dur := 1500 * time.Millisecond
			if testing.Short() {
				dur = 500 * time.Millisecond
			}
			wg.Add(1)
			go func() { // writer: new generations, deletes and range deletes
				defer wg.Done()
				rng := rand.New(rand.NewSource(1))
				for gen := 1; !stop.Load(); gen++ {
					for i := 0; i < 200; i++ {
						k := rng.Intn(keys)
						if err := d.Put([]byte(fmt.Sprintf("k%05d", k)), val(k, gen)); err != nil {
							errc <- err
							return
						}
					}
				}
			}()
			for r := 0; r < 8; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(r)))
					for !stop.Load() {
						switch rng.Intn(3) {
						case 0:
							k := rng.Intn(keys)
							v, err := d.Get([]byte(fmt.Sprintf("k%05d", k)))
							if err != nil || !bytes.HasPrefix(v, []byte(fmt.Sprintf("%05d-gen", k))) ||
								!bytes.HasSuffix(v, []byte(fmt.Sprintf("-end%05d", k))) {
								errc <- fmt.Errorf("get %d: %q %v", k, v, err)
								return
							}
						case 1:
							it := d.Scan([]byte(fmt.Sprintf("k%05d", rng.Intn(keys))), nil)
							n := 0
							for it.Next() && n < 300 {
								if v := it.Value(); !bytes.HasPrefix(v, it.Key()[1:]) || !bytes.HasSuffix(v, append([]byte("-end"), it.Key()[1:]...)) {
									errc <- fmt.Errorf("scan: %q=%q", it.Key(), it.Value())
								}
								n++
							}
							if err := it.Close(); err != nil {
								errc <- err
								return
							}
						case 2:
							it := d.NewIter(nil)
							n := 0
							var prev []byte
							for ok := it.Last(); ok && n < 300; ok = it.Prev() {
								if prev != nil && bytes.Compare(it.Key(), prev) >= 0 {
									errc <- fmt.Errorf("reverse order: %q after %q", it.Key(), prev)
								}
								prev = append(prev[:0], it.Key()...)
								n++
							}
							if err := it.Close(); err != nil {
								errc <- err
								return
							}
						}
					}
				}(r)
			}
			time.Sleep(dur)
			stop.Store(true)
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Fatal(err)
				}
			}
			d.waitIdle()
			m := d.Metrics()
			if m.Flushes == 0 || m.Compactions == 0 {
				t.Fatalf("no flush or merge ran: %s", m)
			}
			if m.Cache.Pinned != 0 {
				t.Fatalf("%d frames left pinned", m.Cache.Pinned)
			}
		})
	}
}

// TestDirectIO runs a workload with DirectIO on the real filesystem and
// checks results equal the buffered ones; where O_DIRECT is refused the
// reads fall back and the metrics say so.
func TestDirectIO(t *testing.T) {
	dir := t.TempDir()
	for _, direct := range []bool{false, true} {
		d := mustOpen(t, dir, &Options{DirectIO: direct, CacheSize: 256 << 10})
		if !direct {
			for i := 0; i < 20000; i++ {
				d.Put([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{byte(i)}, i%300))
			}
			d.Flush()
		}
		for i := 0; i < 20000; i += 7 {
			v, err := d.Get([]byte(fmt.Sprintf("k%06d", i)))
			if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, i%300)) {
				t.Fatalf("direct=%v key %d: %v", direct, i, err)
			}
		}
		it := d.Scan(nil, nil)
		n := 0
		for it.Next() {
			n++
		}
		if err := it.Close(); err != nil || n != 20000 {
			t.Fatalf("direct=%v scan: %d keys, %v", direct, n, err)
		}
		m := d.Metrics()
		if direct {
			t.Logf("direct I/O files %d, fallbacks %d", m.DirectIOFiles, m.DirectIOFallbacks)
			if m.DirectIOFiles+m.DirectIOFallbacks == 0 {
				t.Fatal("no SST was opened")
			}
		}
		d.Close()
	}
}
