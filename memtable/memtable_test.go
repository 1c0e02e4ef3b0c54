package memtable

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// modelEntry is a point entry of the model.
type modelEntry struct {
	key, value string
	trailer    uint64
}

func compareModel(a, b modelEntry) int {
	return base.CompareInternal(
		base.InternalKey{UserKey: []byte(a.key), Trailer: a.trailer},
		base.InternalKey{UserKey: []byte(b.key), Trailer: b.trailer})
}

// model is the oracle: a sorted slice of point entries and the range
// tombstones.
type model struct {
	points    []modelEntry
	rangeDels []RangeTombstone
}

func (m *model) add(seq base.SeqNum, kind base.Kind, key, value []byte) {
	if kind == base.KindRangeDelete {
		m.rangeDels = append(m.rangeDels, RangeTombstone{Start: slices.Clone(key), End: slices.Clone(value), Seq: seq})
		return
	}
	e := modelEntry{key: string(key), value: string(value), trailer: base.MakeTrailer(seq, kind)}
	i, found := slices.BinarySearchFunc(m.points, e, compareModel)
	if found {
		m.points[i] = e
		return
	}
	m.points = slices.Insert(m.points, i, e)
}

func (m *model) get(key []byte, seq base.SeqNum) (modelEntry, bool) {
	for _, e := range m.points {
		if e.key == string(key) && base.SeqNum(e.trailer>>8) <= seq {
			return e, true
		}
	}
	return modelEntry{}, false
}

// modelIter is a cursor over a snapshot of the model's points.
type modelIter struct {
	points []modelEntry
	pos    int // -1 or len(points): invalid
}

func (mi *modelIter) valid() bool { return mi.pos >= 0 && mi.pos < len(mi.points) }

func genKey(t *rapid.T, label string) []byte {
	return rapid.SliceOfN(rapid.ByteRange('a', 'e'), 0, 3).Draw(t, label)
}

func genKind(t *rapid.T) base.Kind {
	return rapid.SampledFrom([]base.Kind{base.KindSet, base.KindSet, base.KindDelete}).Draw(t, "kind")
}

type liveIter struct {
	it base.InternalIterator
	mi modelIter
}

type machine struct {
	mt    *Memtable
	model model
	seq   base.SeqNum
	iters []*liveIter
}

func (s *machine) addOne(t *rapid.T, kind base.Kind, key, value []byte) {
	s.seq += base.SeqNum(rapid.IntRange(0, 2).Draw(t, "seqStep"))
	s.mt.Add(s.seq, kind, key, value)
	s.model.add(s.seq, kind, key, value)
	// The memtable copied them: scribbling on the caller's buffers
	// changes nothing.
	for i := range key {
		key[i] = 'X'
	}
	for i := range value {
		value[i] = 'X'
	}
}

func (s *machine) Add(t *rapid.T) {
	key := genKey(t, "key")
	value := rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "value")
	s.addOne(t, genKind(t), key, value)
}

func (s *machine) AddRangeDel(t *rapid.T) {
	start, end := genKey(t, "start"), genKey(t, "end")
	s.addOne(t, base.KindRangeDelete, start, end)
}

// AddMany adds enough entries at once to take iterators across refills.
func (s *machine) AddMany(t *rapid.T) {
	n := rapid.IntRange(10, 80).Draw(t, "n")
	for i := 0; i < n; i++ {
		key := []byte(fmt.Sprintf("%c%d", 'a'+i%5, i%17))
		s.addOne(t, base.KindSet, key, []byte(fmt.Sprint(i)))
	}
}

// AddWhileReading adds entries while a reader holds the read lock, so
// that they stay pending, and checks Gets while they are.
func (s *machine) AddWhileReading(t *rapid.T) {
	s.mt.mu.RLock()
	free := pendingInserts - int(s.mt.added.Load()-s.mt.inTree.Load())
	n := rapid.IntRange(0, free).Draw(t, "n")
	for i := 0; i < n; i++ {
		s.Add(t)
	}
	for i := rapid.IntRange(0, 4).Draw(t, "gets"); i > 0; i-- {
		s.Get(t)
	}
	s.mt.mu.RUnlock()
}

func (s *machine) Get(t *rapid.T) {
	key := genKey(t, "key")
	seq := base.SeqNum(rapid.Uint64Range(0, uint64(s.seq)+2).Draw(t, "seq"))
	if rapid.IntRange(0, 9).Draw(t, "maxSeq") == 0 {
		seq = base.MaxSeqNum + 5 // clamped
	}
	value, kind, entrySeq, found := s.mt.Get(key, seq)
	want, wantFound := s.model.get(key, min(seq, base.MaxSeqNum))
	if found != wantFound {
		t.Fatalf("Get(%q, %d) found = %v, want %v", key, seq, found, wantFound)
	}
	if !found {
		return
	}
	wk := base.InternalKey{Trailer: want.trailer}
	if kind != wk.Kind() || entrySeq != wk.SeqNum() {
		t.Fatalf("Get(%q, %d) = %s#%d, want %s#%d", key, seq, kind, entrySeq, wk.Kind(), wk.SeqNum())
	}
	if kind == base.KindSet && string(value) != want.value {
		t.Fatalf("Get(%q, %d) value = %q, want %q", key, seq, value, want.value)
	}
	if kind == base.KindDelete && value != nil {
		t.Fatalf("Get(%q, %d) of a delete returned value %q", key, seq, value)
	}
}

func (s *machine) NewIter(t *rapid.T) {
	if len(s.iters) >= 3 {
		t.Skip("enough iterators")
	}
	s.iters = append(s.iters, &liveIter{
		it: s.mt.NewIter(),
		mi: modelIter{points: slices.Clone(s.model.points), pos: -1},
	})
}

func (s *machine) CloseIter(t *rapid.T) {
	if len(s.iters) == 0 {
		t.Skip("no iterator")
	}
	i := rapid.IntRange(0, len(s.iters)-1).Draw(t, "iter")
	if err := s.iters[i].it.Close(); err != nil {
		t.Fatal(err)
	}
	if s.iters[i].it.First() {
		t.Fatal("closed iterator moved")
	}
	s.iters = slices.Delete(s.iters, i, i+1)
}

func (s *machine) IterOp(t *rapid.T) {
	if len(s.iters) == 0 {
		t.Skip("no iterator")
	}
	li := s.iters[rapid.IntRange(0, len(s.iters)-1).Draw(t, "iter")]
	it, mi := li.it, &li.mi
	op := rapid.SampledFrom([]string{"First", "Last", "SeekGE", "SeekLT", "Next", "Prev", "Next", "Prev"}).Draw(t, "op")
	steps := 1
	if op == "Next" || op == "Prev" {
		steps = rapid.IntRange(1, 70).Draw(t, "steps")
	}
	var key []byte
	if op == "SeekGE" || op == "SeekLT" {
		key = genKey(t, "seek")
	}
	for step := 0; step < steps; step++ {
		var got bool
		switch op {
		case "First":
			got, mi.pos = it.First(), 0
		case "Last":
			got, mi.pos = it.Last(), len(mi.points)-1
		case "SeekGE":
			got = it.SeekGE(key)
			mi.pos, _ = slices.BinarySearchFunc(mi.points, string(key), func(e modelEntry, k string) int {
				return bytes.Compare([]byte(e.key), []byte(k))
			})
		case "SeekLT":
			got = it.SeekLT(key)
			i, _ := slices.BinarySearchFunc(mi.points, string(key), func(e modelEntry, k string) int {
				return bytes.Compare([]byte(e.key), []byte(k))
			})
			mi.pos = i - 1
		case "Next":
			got = it.Next()
			if mi.valid() {
				mi.pos++
			}
		case "Prev":
			got = it.Prev()
			if mi.valid() {
				mi.pos--
			}
		}
		if !mi.valid() {
			mi.pos = -1 // invalid stays invalid
		}
		if got != mi.valid() || it.Valid() != got {
			t.Fatalf("%s(%q) step %d: valid = %v/%v, want %v", op, key, step, got, it.Valid(), mi.valid())
		}
		if !got {
			return
		}
		want := mi.points[mi.pos]
		k := it.Key()
		if string(k.UserKey) != want.key || k.Trailer != want.trailer || string(it.Value()) != want.value {
			t.Fatalf("%s(%q) step %d: at %s=%q, want %q#%d,%s=%q", op, key, step, k, it.Value(),
				want.key, want.trailer>>8, base.Kind(want.trailer&0xff), want.value)
		}
	}
}

func (s *machine) Check(t *rapid.T) {
	if s.mt.len() != len(s.model.points) {
		t.Fatalf("Len = %d, want %d", s.mt.len(), len(s.model.points))
	}
	if s.mt.Empty() != (len(s.model.points) == 0 && len(s.model.rangeDels) == 0) {
		t.Fatalf("Empty = %v", s.mt.Empty())
	}
	got := s.mt.RangeDels()
	if len(got) != len(s.model.rangeDels) {
		t.Fatalf("RangeDels has %d, want %d", len(got), len(s.model.rangeDels))
	}
	for i := 1; i < len(got); i++ {
		c := bytes.Compare(got[i-1].Start, got[i].Start)
		if c > 0 || c == 0 && got[i-1].Seq < got[i].Seq {
			t.Fatalf("RangeDels not sorted at %d: %v", i, got)
		}
	}
	for _, want := range s.model.rangeDels {
		if !slices.ContainsFunc(got, func(r RangeTombstone) bool {
			return bytes.Equal(r.Start, want.Start) && bytes.Equal(r.End, want.End) && r.Seq == want.Seq
		}) {
			t.Fatalf("RangeDels lacks %q-%q#%d", want.Start, want.End, want.Seq)
		}
	}
}

func TestMemtableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &machine{mt: NewPooled(nil)}
		t.Repeat(rapid.StateMachineActions(s))
		for _, li := range s.iters {
			li.it.Close()
		}
	})
}

func TestGetSeqBoundaries(t *testing.T) {
	m := NewPooled(nil)
	m.Add(5, base.KindSet, []byte("k"), []byte("v5"))
	m.Add(7, base.KindDelete, []byte("k"), nil)
	m.Add(9, base.KindSet, []byte("k"), []byte("v9"))
	m.Add(6, base.KindSet, []byte("k\x00"), []byte("other"))
	tests := []struct {
		seq   base.SeqNum
		want  string // "" not found, "DEL" delete, else value
		entry base.SeqNum
	}{
		{4, "", 0}, {5, "v5", 5}, {6, "v5", 5}, {7, "DEL", 7}, {8, "DEL", 7},
		{9, "v9", 9}, {base.MaxSeqNum, "v9", 9}, {^base.SeqNum(0), "v9", 9},
	}
	for _, tt := range tests {
		v, kind, es, found := m.Get([]byte("k"), tt.seq)
		got := ""
		switch {
		case found && kind == base.KindDelete:
			got = "DEL"
		case found:
			got = string(v)
		}
		if got != tt.want || (found && es != tt.entry) {
			t.Errorf("Get(k, %d) = %q#%d, want %q#%d", tt.seq, got, es, tt.want, tt.entry)
		}
	}
	if _, _, _, found := m.Get([]byte("j"), 100); found {
		t.Error("found a missing key")
	}
	if m.len() != 4 || m.Empty() || m.ApproximateSize() <= 0 {
		t.Errorf("Len=%d Empty=%v Size=%d", m.len(), m.Empty(), m.ApproximateSize())
	}
}

func TestEmptyAndRangeDels(t *testing.T) {
	m := NewPooled(nil)
	if !m.Empty() || m.len() != 0 || m.RangeDels() != nil {
		t.Fatal("new memtable not empty")
	}
	it := m.NewIter()
	if it.First() || it.Last() || it.SeekGE(nil) || it.SeekLT([]byte("z")) {
		t.Fatal("iterator over empty memtable moved")
	}
	it.Close()
	m.Add(3, base.KindRangeDelete, []byte("b"), []byte("d"))
	if m.Empty() || m.len() != 0 {
		t.Fatalf("Empty=%v Len=%d after a range delete", m.Empty(), m.len())
	}
	first := m.RangeDels()
	m.Add(4, base.KindRangeDelete, []byte("a"), []byte("c"))
	m.Add(5, base.KindRangeDelete, []byte("b"), []byte("c"))
	got := m.RangeDels()
	want := []string{"a-c#4", "b-c#5", "b-d#3"}
	var gs []string
	for _, r := range got {
		gs = append(gs, fmt.Sprintf("%s-%s#%d", r.Start, r.End, r.Seq))
	}
	if !slices.Equal(gs, want) {
		t.Fatalf("RangeDels = %v, want %v", gs, want)
	}
	if len(first) != 1 || string(first[0].Start) != "b" {
		t.Fatalf("earlier snapshot changed: %v", first)
	}
	// A second call with nothing new returns the cached slice.
	if allocs := testing.AllocsPerRun(10, func() { m.RangeDels() }); allocs != 0 {
		t.Fatalf("RangeDels allocates %v", allocs)
	}
	it = m.NewIter()
	if it.First() {
		t.Fatal("range tombstones appear among point entries")
	}
	it.Close()
}

func TestIterSnapshotAndAliasing(t *testing.T) {
	m := NewPooled(nil)
	for i := 0; i < 100; i++ {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i)))
	}
	it := m.NewIter()
	defer it.Close()
	for i := 100; i < 200; i++ {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%03d", i-50)), []byte("new"))
	}
	n := 0
	var keys [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		if string(it.Value()) == "new" {
			t.Fatal("iterator sees an entry added after it was created")
		}
		keys = append(keys, it.Key().UserKey)
		n++
	}
	if n != 100 {
		t.Fatalf("iterated %d entries, want 100", n)
	}
	// Keys stay valid after the iterator moves on.
	for i, k := range keys {
		if string(k) != fmt.Sprintf("k%03d", i) {
			t.Fatalf("key %d = %q", i, k)
		}
	}
	// Backwards from the end.
	n = 0
	for ok := it.Last(); ok; ok = it.Prev() {
		n++
	}
	if n != 100 {
		t.Fatalf("iterated back %d entries", n)
	}
}

// TestConcurrent runs one writer against readers doing Get, iteration and
// RangeDels; run it with -race.
func TestConcurrent(t *testing.T) {
	m := NewPooled(nil)
	const writes = 20000
	const keys = 500
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%05d", i%keys)) }
	var wg sync.WaitGroup
	done := make(chan struct{})
	var lastSeq struct {
		sync.Mutex
		v base.SeqNum
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 1; i <= writes; i++ {
			// The value records the seqnum, so readers can check it.
			m.Add(base.SeqNum(i), base.KindSet, key(i), []byte(fmt.Sprint(i)))
			if i%1000 == 0 {
				m.Add(base.SeqNum(i), base.KindRangeDelete, key(i), key(i+7))
			}
			lastSeq.Lock()
			lastSeq.v = base.SeqNum(i)
			lastSeq.Unlock()
		}
	}()
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-done:
					return
				default:
				}
				lastSeq.Lock()
				seq := lastSeq.v
				lastSeq.Unlock()
				// Every write up to seq is visible, with a value naming
				// its own seqnum.
				i := int(seq)
				if i > 0 {
					v, kind, es, found := m.Get(key(i), seq)
					if !found || kind != base.KindSet || es != seq || string(v) != fmt.Sprint(i) {
						t.Errorf("Get(%s, %d) = %q %s#%d %v", key(i), seq, v, kind, es, found)
						return
					}
				}
				if j%50 == 0 {
					it := m.NewIter()
					var prev base.InternalKey
					n := 0
					for ok := it.First(); ok; ok = it.Next() {
						k := it.Key()
						if n > 0 && base.CompareInternal(prev, k) >= 0 {
							t.Errorf("iterator out of order: %s then %s", prev, k)
						}
						if string(it.Value()) != fmt.Sprint(uint64(k.SeqNum())) {
							t.Errorf("entry %s has value %q", k, it.Value())
						}
						prev = k
						n++
					}
					if n < i {
						t.Errorf("iterator saw %d entries, want at least %d", n, i)
					}
					it.Close()
					m.RangeDels()
				}
			}
		}()
	}
	wg.Wait()
	if m.len() != writes {
		t.Fatalf("Len = %d", m.len())
	}
}

// TestAddDoesNotWaitForReaders: an insert completes while a reader is in
// the middle of a search. Under the reader-writer lock the memtable once
// used, Add waited for every search in progress, and a search whose
// goroutine was descheduled held writes up for milliseconds.
func TestAddDoesNotWaitForReaders(t *testing.T) {
	m := NewPooled(nil)
	for i := 0; i < 100; i++ {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%04d", i)), []byte("v"))
	}
	inSearch, release := make(chan struct{}), make(chan struct{})
	searched := make(chan struct{})
	go func() {
		defer close(searched)
		first := true
		m.mu.RLock()
		defer m.mu.RUnlock()
		m.points.Ascend(func(entry) bool {
			if first {
				first = false
				close(inSearch)
				<-release
			}
			return true
		})
	}()
	<-inSearch
	added := make(chan struct{})
	go func() {
		for i := 0; i < pendingInserts; i++ {
			m.Add(base.SeqNum(1000+i), base.KindSet, []byte("k0050"), []byte(fmt.Sprint(i)))
		}
		close(added)
	}()
	select {
	case <-added:
	case <-time.After(10 * time.Second):
		t.Fatal("Add waited for a search in progress")
	}
	// Gets see every insert, the search still going on.
	for i := 0; i < pendingInserts; i++ {
		if v, _, _, found := m.Get([]byte("k0050"), base.SeqNum(1000+i)); !found || string(v) != fmt.Sprint(i) {
			t.Fatalf("Get at seqnum %d = %q %v", 1000+i, v, found)
		}
	}
	close(release)
	<-searched
	if m.len() != 100+pendingInserts {
		t.Fatalf("len = %d, want %d", m.len(), 100+pendingInserts)
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	m := NewPooled(nil)
	for i := 0; i < 1000; i++ {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%04d", i)), []byte("v"))
	}
	key := []byte("k0500")
	if allocs := testing.AllocsPerRun(100, func() { m.Get(key, 2000) }); allocs != 0 {
		t.Fatalf("Get allocates %v times", allocs)
	}
	it := m.NewIter()
	defer it.Close()
	it.First()
	if allocs := testing.AllocsPerRun(100, func() {
		if !it.Next() {
			it.First()
		}
	}); allocs != 0 {
		t.Fatalf("Next allocates %v times", allocs)
	}
}

func TestArena(t *testing.T) {
	var a arena
	x, _ := a.alloc(10)
	y, _ := a.alloc(10)
	if len(x) != 10 || cap(x) != 10 {
		t.Fatalf("alloc cap = %d", cap(x))
	}
	// Appending to one allocation never touches the next.
	x = append(x, 'z')
	y[0] = 'y'
	if x[10] != 'z' || y[0] != 'y' {
		t.Fatal("allocations overlap")
	}
	big, waste := a.alloc(bigAlloc + 1)
	if len(big) != bigAlloc+1 || waste != heapPage-1 {
		t.Fatalf("big alloc: %d bytes, waste %d", len(big), waste)
	}
	for i := 0; i < 1000; i++ {
		a.alloc(1000)
	}
	if a.next != maxChunk {
		t.Fatalf("chunk size did not grow to the cap: %d", a.next)
	}
}

// TestSizeCountsLargeValues: a memtable of large values counts the memory
// it really holds, chunk ends given up included, so the flush decision
// sees it: 200 KiB values leave up to a fifth of each 1 MiB chunk unused
// (5% over 20 of them, counting the first chunks, which fit exactly).
func TestSizeCountsLargeValues(t *testing.T) {
	m := NewPooled(nil)
	v := make([]byte, 200<<10)
	var raw int64
	for i := 0; i < 20; i++ {
		k := []byte(fmt.Sprintf("k%03d", i))
		m.Add(base.SeqNum(i+1), base.KindSet, k, v)
		raw += int64(len(k) + len(v))
	}
	held := m.arena.allocated - int64(cap(m.arena.chunk)-len(m.arena.chunk))
	if got := m.ApproximateSize(); got < held || got > held+20*entryOverhead {
		t.Fatalf("ApproximateSize %d, arena holds %d (raw bytes %d)", got, held, raw)
	}
	if held < raw*21/20 {
		t.Fatalf("the test needs chunk ends given up: held %d, raw %d", held, raw)
	}
}

// TestIterBatchEdges walks memtables of every size up to a few refills (so
// that every refill boundary meets the end of the tree), in both directions,
// from every seek position, and with a change of direction at every entry.
func TestIterBatchEdges(t *testing.T) {
	for n := 0; n <= firstBatch+3*batchSize+1; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := NewPooled(nil)
			var want []string
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("k%03d", i)
				m.Add(base.SeqNum(i+1), base.KindSet, []byte(k), nil)
				want = append(want, k)
			}
			it := m.NewIter()
			defer it.Close()
			var got []string
			for ok := it.First(); ok; ok = it.Next() {
				got = append(got, string(it.Key().UserKey))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("forward = %v", got)
			}
			got = got[:0]
			for ok := it.Last(); ok; ok = it.Prev() {
				got = append(got, string(it.Key().UserKey))
			}
			slices.Reverse(got)
			if !slices.Equal(got, want) {
				t.Fatalf("backward = %v", got)
			}
			for i := 0; i <= n; i++ {
				seek := fmt.Sprintf("k%03d", i)
				// SeekGE then walk back to the start.
				ok := it.SeekGE([]byte(seek))
				if ok != (i < n) || ok && string(it.Key().UserKey) != want[i] {
					t.Fatalf("SeekGE(%s) = %v %s", seek, ok, it.Key())
				}
				if ok {
					steps := 0
					for it.Prev() {
						steps++
					}
					if steps != i {
						t.Fatalf("Prev from SeekGE(%s) took %d steps", seek, steps)
					}
				}
				// SeekLT then walk forward to the end.
				ok = it.SeekLT([]byte(seek))
				if ok != (i > 0) || ok && string(it.Key().UserKey) != want[i-1] {
					t.Fatalf("SeekLT(%s) = %v %s", seek, ok, it.Key())
				}
				if ok {
					steps := 0
					for it.Next() {
						steps++
					}
					if steps != n-i {
						t.Fatalf("Next from SeekLT(%s) took %d steps", seek, steps)
					}
				}
				// Change direction at entry i.
				if i < n {
					it.SeekGE([]byte(seek))
					if i > 0 && (!it.Prev() || string(it.Key().UserKey) != want[i-1]) {
						t.Fatalf("Prev after SeekGE(%s) at %s", seek, it.Key())
					}
					if i > 0 && (!it.Next() || string(it.Key().UserKey) != want[i]) {
						t.Fatalf("Next after Prev at %s", it.Key())
					}
				}
			}
		})
	}
}

// TestCompareKeys checks the inline-prefix comparison against
// base.CompareInternal on keys around the 16-byte prefix length, with many
// zero bytes (the padding value) and shared prefixes.
func TestCompareKeys(t *testing.T) {
	genKey := rapid.Custom(func(t *rapid.T) []byte {
		n := rapid.IntRange(0, 40).Draw(t, "len")
		k := make([]byte, n)
		for i := range k {
			k[i] = rapid.SampledFrom([]byte{0, 0, 1, 'a', 0xff}).Draw(t, "b")
		}
		return k
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b := genKey.Draw(t, "a"), genKey.Draw(t, "b")
		switch rapid.IntRange(0, 2).Draw(t, "relation") {
		case 1:
			// b shares a prefix of a.
			b = append(slices.Clone(a[:rapid.IntRange(0, len(a)).Draw(t, "cut")]), b...)
		case 2:
			// b is a, zero bytes (indistinguishable from the prefix
			// padding), then more.
			b = append(slices.Clone(a), make([]byte, rapid.IntRange(0, 20).Draw(t, "zeros"))...)
			b = append(b, genKey.Draw(t, "tail")...)
		}
		ta := rapid.Uint64Range(0, 3).Draw(t, "ta")
		tb := rapid.Uint64Range(0, 3).Draw(t, "tb")
		ea, eb := makePivot(a, ta), makePivot(b, tb)
		want := base.CompareInternal(base.InternalKey{UserKey: a, Trailer: ta}, base.InternalKey{UserKey: b, Trailer: tb})
		if got := compareKeys(&ea, &eb); got != bytes.Compare(a, b) {
			t.Fatalf("compareKeys(%x, %x) = %d", a, b, got)
		}
		if entryLess(ea, eb) != (want < 0) || entryLess(eb, ea) != (want > 0) {
			t.Fatalf("entryLess(%x#%d, %x#%d) disagrees with CompareInternal = %d", a, ta, b, tb, want)
		}
	})
}

// TestChunksRecycledAfterLastUnref: a memtable's large arena chunks go back
// to its pool only when the last reference is dropped, and the next
// memtable writes into them (in -tags invariants builds they are poisoned
// instead, so a reader that kept memory past its release would see it).
func TestChunksRecycledAfterLastUnref(t *testing.T) {
	pool := NewChunkPool(64 << 20)
	m := NewPooled(pool)
	v := bytes.Repeat([]byte{'v'}, 1000)
	var last []byte
	for i := 0; m.ApproximateSize() < 6<<20; i++ {
		last = []byte(fmt.Sprintf("k%07d", i))
		m.Add(base.SeqNum(i+1), base.KindSet, last, v)
	}
	held := len(m.arena.full)
	if held < 2 {
		t.Fatalf("%d full chunks: the test needs a few", held)
	}
	got, _, _, _ := m.Get(last, base.MaxSeqNum) // in a full-size chunk
	m.Ref()                                     // a reader
	m.Unref()
	if len(pool.chunks) != 0 || !bytes.Equal(got, v) {
		t.Fatal("chunks released while a reader holds the memtable")
	}
	m.Unref()
	if poisonReleased {
		if got[0] != 0xdd {
			t.Fatalf("released memory not poisoned: %q", got[:4])
		}
		return
	}
	if len(pool.chunks) != held {
		t.Fatalf("%d chunks back in the pool, want %d", len(pool.chunks), held)
	}
	m2 := NewPooled(pool)
	for i := 0; m2.ApproximateSize() < 6<<20; i++ {
		m2.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%07d", i)), v)
	}
	if len(pool.chunks) != 0 {
		t.Fatalf("%d chunks left in the pool after a memtable as large", len(pool.chunks))
	}
}

// TestRangeDelSetCached: the fragmented set answers MaxCovering, is shared
// until a tombstone is added, and is built again after.
func TestRangeDelSetCached(t *testing.T) {
	m := NewPooled(nil)
	defer m.Unref()
	m.Add(5, base.KindRangeDelete, []byte("b"), []byte("d"))
	s := m.RangeDelSet()
	if got := s.MaxCovering([]byte("c"), 10); got != 5 {
		t.Fatalf("MaxCovering(c) = %d, want 5", got)
	}
	if got := s.MaxCovering([]byte("c"), 4); got != 0 {
		t.Fatalf("MaxCovering(c) at seqnum 4 = %d, want 0", got)
	}
	if m.RangeDelSet() != s {
		t.Fatal("the set was built again with no tombstone added")
	}
	m.Add(7, base.KindRangeDelete, []byte("a"), []byte("c"))
	s2 := m.RangeDelSet()
	if s2 == s || s2.MaxCovering([]byte("b"), 10) != 7 || s.MaxCovering([]byte("a"), 10) != 0 {
		t.Fatal("a tombstone added later is missing, or changed the set handed out before")
	}
}

// TestChunksOffHeap: on Linux a pooled memtable's chunks, all full-size
// ones from the pool, live outside the Go heap, the pool keeps only what it has room for and unmaps the
// rest, and Close unmaps what it kept.
func TestChunksOffHeap(t *testing.T) {
	if runtime.GOOS != "linux" || poisonReleased {
		t.Skip("chunks are on the heap here")
	}
	pool := NewChunkPool(4 * hugeChunk) // keeps 4 huge chunks
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewPooled(pool)
	v := bytes.Repeat([]byte{'v'}, 1000)
	for i := 0; m.ApproximateSize() < 16<<20; i++ {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%07d", i)), v)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Fatalf("the live heap grew by %d bytes for a 16 MiB memtable", grown)
	}
	chunks := append([]*chunk(nil), m.arena.full...)
	if len(chunks) < 8 {
		t.Fatalf("%d full chunks: the test needs more", len(chunks))
	}
	for _, c := range chunks {
		if !c.mapped {
			t.Fatal("a full-size chunk is on the heap")
		}
	}
	if held := int64(len(chunks)) * hugeChunk; held != m.arena.allocated {
		t.Fatalf("%d bytes in pool chunks of %d allocated: a pooled arena took chunks elsewhere", held, m.arena.allocated)
	}
	m.Unref()
	if len(pool.chunks) != 4 {
		t.Fatalf("the pool kept %d chunks, want 4", len(pool.chunks))
	}
	freed := 0
	for _, c := range chunks {
		if !c.mapped {
			freed++
		}
	}
	if freed != len(chunks)-4 {
		t.Fatalf("%d of %d chunks unmapped, want all but the 4 kept", freed, len(chunks))
	}
	kept := append([]*chunk(nil), pool.chunks...)
	pool.Close()
	for _, c := range kept {
		if c.mapped {
			t.Fatal("Close left a pooled chunk mapped")
		}
	}
	// A memtable released after Close gives its chunks straight back.
	m2 := NewPooled(pool)
	for i := 0; m2.ApproximateSize() < 4<<20; i++ {
		m2.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%07d", i)), v)
	}
	chunks = append(chunks[:0], m2.arena.full...)
	m2.Unref()
	for _, c := range chunks {
		if c.mapped || len(pool.chunks) != 0 {
			t.Fatal("a chunk released after Close was kept")
		}
	}
}
