package cache

import (
	"errors"
	"slices"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"pgregory.net/rapid"
)

// model is 2Q (or LRU) over one shard, written with slices and maps for
// clarity rather than speed. Lists are head first.
type model struct {
	nframes, kin, kout, maxRun int
	lru                        bool

	free          int
	droppedPinned int // frames out of the table, still pinned
	res           map[PageID]*mframe
	a1in, am      []PageID
	a1out         []PageID
}

// mframe is a frame of the model.
type mframe struct {
	id       PageID
	pins     int
	dropped  bool
	ghostRef bool
}

// mhandle is a Handle the test holds, with the model frame it pins.
type mhandle struct {
	h  Handle
	mf *mframe
}

var errTestLoad = errors.New("test: load failed")

func (m *model) lastUnpinned(q []PageID) int {
	for i := len(q) - 1; i >= 0; i-- {
		if m.res[q[i]].pins == 0 {
			return i
		}
	}
	return -1
}

func remove(q []PageID, id PageID) []PageID {
	if i := slices.Index(q, id); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}

func (m *model) pushGhost(id PageID) {
	m.a1out = slices.Insert(m.a1out, 0, id)
	if len(m.a1out) > m.kout {
		m.a1out = m.a1out[:m.kout]
	}
}

// reclaim frees a frame for a new page, reporting false when all are pinned.
func (m *model) reclaim() bool {
	if m.free > 0 {
		m.free--
		return true
	}
	if !m.lru && len(m.a1in) > m.kin {
		if i := m.lastUnpinned(m.a1in); i >= 0 {
			m.evictA1in(i)
			return true
		}
	}
	if i := m.lastUnpinned(m.am); i >= 0 {
		delete(m.res, m.am[i])
		m.am = slices.Delete(m.am, i, i+1)
		return true
	}
	if !m.lru {
		if i := m.lastUnpinned(m.a1in); i >= 0 {
			m.evictA1in(i)
			return true
		}
	}
	return false
}

func (m *model) evictA1in(i int) {
	id := m.a1in[i]
	delete(m.res, id)
	m.a1in = slices.Delete(m.a1in, i, i+1)
	m.pushGhost(id)
}

// insert enters a new, pinned page.
func (m *model) insert(id PageID, prefetch bool) *mframe {
	wasGhost := !m.lru && slices.Contains(m.a1out, id)
	if !m.reclaim() {
		return nil
	}
	m.a1out = remove(m.a1out, id)
	mf := &mframe{id: id, pins: 1}
	m.res[id] = mf
	switch {
	case m.lru || (wasGhost && !prefetch):
		m.am = slices.Insert(m.am, 0, id)
	default:
		mf.ghostRef = wasGhost
		m.a1in = slices.Insert(m.a1in, 0, id)
	}
	return mf
}

// forget takes a resident page out of the lists and the table.
func (m *model) forget(id PageID) {
	m.a1in = remove(m.a1in, id)
	m.am = remove(m.am, id)
	mf := m.res[id]
	delete(m.res, id)
	if mf.pins == 0 {
		m.free++
	} else {
		mf.dropped = true
		m.droppedPinned++
	}
}

func (m *model) pinned() int {
	n := m.droppedPinned
	for _, mf := range m.res {
		if mf.pins > 0 {
			n++
		}
	}
	return n
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const P = 64
		nframes := rapid.IntRange(16, 48).Draw(t, "frames")
		policy := rapid.SampledFrom([]Policy{Policy2Q, PolicyLRU}).Draw(t, "policy")
		pool := New(Options{
			Capacity:     int64(nframes * P),
			PageSize:     P,
			Policy:       policy,
			KinFraction:  rapid.SampledFrom([]float64{0, 0.1, 0.25, 0.5}).Draw(t, "kin"),
			KoutFraction: rapid.SampledFrom([]float64{0, 0.25, 0.5, 1}).Draw(t, "kout"),
			Shards:       1,
		})
		if len(pool.shards) != 1 {
			t.Fatalf("%d shards, want 1", len(pool.shards))
		}
		s := &pool.shards[0]
		m := &model{
			nframes: nframes, kin: s.kin, kout: s.ghosts.limit, maxRun: pool.maxRun,
			lru: policy == PolicyLRU, free: nframes, res: make(map[PageID]*mframe),
		}
		var handles []mhandle
		drawID := func(t *rapid.T) PageID {
			return PageID{
				File: base.FileNum(rapid.IntRange(1, 3).Draw(t, "file")),
				Page: base.PageNum(rapid.IntRange(0, 11).Draw(t, "page")),
			}
		}

		// get does one Get of id, checks it against the model, and keeps the
		// handle or releases it at once.
		get := func(t *rapid.T, id PageID, fail, keep bool) {
			loads := 0
			h, err := pool.Get(id, func(buf []byte) error {
				loads++
				if fail {
					return errTestLoad
				}
				fillPage(buf, id, 0)
				return nil
			})
			if mf := m.res[id]; mf != nil {
				if err != nil || loads != 0 {
					t.Fatalf("hit on %v: err %v, %d loads", id, err, loads)
				}
				mf.pins++
				if i := slices.Index(m.am, id); i >= 0 {
					m.am = slices.Insert(slices.Delete(m.am, i, i+1), 0, id)
				} else if mf.ghostRef {
					mf.ghostRef = false
					m.a1in = remove(m.a1in, id)
					m.am = slices.Insert(m.am, 0, id)
				}
				if keep {
					handles = append(handles, mhandle{h, mf})
				} else {
					h.Release()
					mf.pins--
				}
				return
			}
			mf := m.insert(id, false)
			switch {
			case mf == nil:
				if !errors.Is(err, ErrAllPinned) || loads != 0 {
					t.Fatalf("all pinned: Get(%v) = %v after %d loads, want ErrAllPinned", id, err, loads)
				}
			case fail:
				if !errors.Is(err, errTestLoad) || loads != 1 {
					t.Fatalf("failing load: Get(%v) = %v after %d loads", id, err, loads)
				}
				mf.pins = 0 // the loader's pin went with the error
				m.forget(id)
			default:
				if err != nil || loads != 1 {
					t.Fatalf("miss: Get(%v) = %v after %d loads", id, err, loads)
				}
				if _, err := checkPage(h.Data(), id); err != nil {
					t.Fatal(err)
				}
				if keep {
					handles = append(handles, mhandle{h, mf})
				} else {
					h.Release()
					mf.pins--
				}
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			"get": func(t *rapid.T) {
				id := drawID(t)
				fail := rapid.IntRange(0, 9).Draw(t, "fail") == 0
				get(t, id, fail, true)
			},
			// scan reads a few consecutive pages, releasing each at once: it
			// fills the pool quickly and pushes pages through A1in.
			"scan": func(t *rapid.T) {
				first := drawID(t)
				for i := range rapid.IntRange(1, 12).Draw(t, "n") {
					get(t, PageID{first.File, first.Page + base.PageNum(i)}, false, false)
				}
			},
			"release": func(t *rapid.T) {
				if len(handles) == 0 {
					t.Skip("no handles")
				}
				i := rapid.IntRange(0, len(handles)-1).Draw(t, "handle")
				mh := handles[i]
				handles = slices.Delete(handles, i, i+1)
				mh.h.Release()
				mh.mf.pins--
				if mh.mf.dropped && mh.mf.pins == 0 {
					m.droppedPinned--
					m.free++
				}
			},
			"evictFile": func(t *rapid.T) {
				file := base.FileNum(rapid.IntRange(1, 3).Draw(t, "file"))
				// EvictPages with the file's page count (pages 0..23 are
				// drawn here) looks each page up, or walks the shards
				// when that is more pages than the pool has frames.
				switch pages := rapid.SampledFrom([]uint32{0, 24, 30, 1000}).Draw(t, "pages"); pages {
				case 0:
					pool.EvictFile(file)
				default:
					pool.EvictPages(file, pages)
				}
				for id := range m.res {
					if id.File == file {
						m.forget(id)
					}
				}
				m.a1out = slices.DeleteFunc(m.a1out, func(id PageID) bool { return id.File == file })
			},
			"prefetch": func(t *rapid.T) {
				first := drawID(t)
				n := rapid.IntRange(0, 6).Draw(t, "n")
				fail := rapid.IntRange(0, 4).Draw(t, "fail") == 0
				calls := 0
				got, err := pool.Prefetch(first.File, first.Page, n, func(bufs [][]byte) error {
					calls++
					if fail {
						return errTestLoad
					}
					for i, b := range bufs {
						fillPage(b, PageID{first.File, first.Page + base.PageNum(i)}, 0)
					}
					return nil
				})
				var run []*mframe
				for i := range min(n, m.maxRun) {
					id := PageID{first.File, first.Page + base.PageNum(i)}
					if m.res[id] != nil {
						break
					}
					mf := m.insert(id, true)
					if mf == nil {
						break
					}
					run = append(run, mf)
				}
				for _, mf := range run {
					mf.pins = 0
					if fail {
						m.a1in = remove(m.a1in, mf.id)
						m.am = remove(m.am, mf.id)
						delete(m.res, mf.id)
						m.free++
					}
				}
				switch {
				case len(run) == 0:
					if got != 0 || err != nil || calls != 0 {
						t.Fatalf("empty run: Prefetch = %d, %v after %d calls", got, err, calls)
					}
				case fail:
					if got != 0 || !errors.Is(err, errTestLoad) || calls != 1 {
						t.Fatalf("failing run: Prefetch = %d, %v after %d calls", got, err, calls)
					}
				default:
					if got != len(run) || err != nil || calls != 1 {
						t.Fatalf("Prefetch = %d, %v after %d calls, want %d pages", got, err, calls, len(run))
					}
				}
			},
			"": func(t *rapid.T) {
				sn := pool.snapshotShard(0)
				if !slices.Equal(sn.a1in, m.a1in) {
					t.Fatalf("A1in = %v, want %v", sn.a1in, m.a1in)
				}
				if !slices.Equal(sn.am, m.am) {
					t.Fatalf("Am = %v, want %v", sn.am, m.am)
				}
				if !slices.Equal(sn.a1out, m.a1out) {
					t.Fatalf("A1out = %v, want %v", sn.a1out, m.a1out)
				}
				if len(sn.pins) != len(m.res) {
					t.Fatalf("%d pages resident, want %d", len(sn.pins), len(m.res))
				}
				for id, mf := range m.res {
					if pins, ok := sn.pins[id]; !ok || int(pins) != mf.pins {
						t.Fatalf("page %v: resident %v with %d pins, want %d", id, ok, pins, mf.pins)
					}
				}
				if sn.free != m.free || sn.pinned != m.pinned() {
					t.Fatalf("free %d pinned %d, want %d and %d", sn.free, sn.pinned, m.free, m.pinned())
				}
				if used := len(m.res) + m.droppedPinned + m.free; used != m.nframes {
					t.Fatalf("model accounts for %d frames of %d", used, m.nframes)
				}
				if got := pool.Metrics().Pinned; got != m.pinned() {
					t.Fatalf("Metrics.Pinned = %d, want %d", got, m.pinned())
				}
				for _, mh := range handles {
					if _, err := checkPage(mh.h.Data(), mh.mf.id); err != nil {
						t.Fatal(err)
					}
				}
			},
		})
		for _, mh := range handles {
			mh.h.Release()
		}
		if m := pool.Metrics(); m.Pinned != 0 {
			t.Fatalf("%d frames pinned after releasing every handle", m.Pinned)
		}
	})
}
