// Command nearest answers "the k events nearest in time to t" over a time
// series kept in Strata, by walking outward from t with one iterator
// positioned by SeekGE (the events at or after t) and one by SeekLT (those
// before). It reads about k entries whatever the series' length; the
// baseline it is benchmarked against scans every event and keeps the k
// nearest.
//
//	go run ./examples/nearest
package main

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"log"
	"math/rand"
	"os"

	"github.com/seed-d6fe07da/strata/db"
)

// An event is a reading at a time (nanoseconds). Keys are the time,
// big-endian, so byte order is time order; the value is the payload.
type event struct {
	t       uint64
	payload string
}

func timeKey(t uint64) []byte { return binary.BigEndian.AppendUint64(nil, t) }

// closer reports whether a (at distance da) ranks before b (at db): the
// nearer first, and of two as near the earlier.
func closer(a event, da uint64, b event, dbb uint64) bool {
	return da < dbb || (da == dbb && a.t < b.t)
}

func dist(t, target uint64) uint64 {
	if t > target {
		return t - target
	}
	return target - t
}

// nearest returns the k events nearest to target, nearest first.
func nearest(d *db.DB, target uint64, k int) ([]event, error) {
	after, before := d.NewIter(nil), d.NewIter(nil)
	defer after.Close()
	defer before.Close()
	okA, okB := after.SeekGE(timeKey(target)), before.SeekLT(timeKey(target))
	var out []event
	for len(out) < k && (okA || okB) {
		var a, b event
		if okA {
			a = event{binary.BigEndian.Uint64(after.Key()), string(after.Value())}
		}
		if okB {
			b = event{binary.BigEndian.Uint64(before.Key()), string(before.Value())}
		}
		if okA && (!okB || closer(a, dist(a.t, target), b, dist(b.t, target))) {
			out = append(out, a)
			okA = after.Next()
		} else {
			out = append(out, b)
			okB = before.Prev()
		}
	}
	if err := after.Err(); err != nil {
		return nil, err
	}
	return out, before.Err()
}

// nearestByScan is the baseline: read every event, keep the k nearest in a
// heap.
func nearestByScan(d *db.DB, target uint64, k int) ([]event, error) {
	h := &farthestFirst{target: target}
	it := d.Scan(nil, nil)
	for it.Next() {
		e := event{binary.BigEndian.Uint64(it.Key()), string(it.Value())}
		if h.Len() < k {
			heap.Push(h, e)
		} else if closer(e, dist(e.t, target), h.es[0], dist(h.es[0].t, target)) {
			h.es[0] = e
			heap.Fix(h, 0)
		}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	out := make([]event, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(event)
	}
	return out, nil
}

// farthestFirst is a heap of events with the farthest from target on top.
type farthestFirst struct {
	target uint64
	es     []event
}

func (h *farthestFirst) Len() int { return len(h.es) }
func (h *farthestFirst) Less(i, j int) bool {
	return closer(h.es[j], dist(h.es[j].t, h.target), h.es[i], dist(h.es[i].t, h.target))
}
func (h *farthestFirst) Swap(i, j int) { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *farthestFirst) Push(x any)    { h.es = append(h.es, x.(event)) }
func (h *farthestFirst) Pop() any {
	e := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return e
}

// load records n events at distinct random times: event i falls in
// [i*1000, i*1000+999].
func load(d *db.DB, n int, seed int64) error {
	rng := rand.New(rand.NewSource(seed))
	b := d.NewBatch()
	for i := range n {
		t := uint64(i)*1000 + uint64(rng.Intn(1000))
		b.Put(timeKey(t), []byte(fmt.Sprintf("reading %d", i)))
		if b.Len() == 1000 {
			if err := d.Write(b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	return d.Write(b)
}

func main() {
	dir, err := os.MkdirTemp("", "strata-nearest-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 100_000, 1); err != nil {
		log.Fatal(err)
	}
	for _, target := range []uint64{0, 31_415_926, 99_999_999} {
		es, err := nearest(d, target, 3)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("nearest to %d:", target)
		for _, e := range es {
			fmt.Printf(" %q at %d (%d away);", e.payload, e.t, dist(e.t, target))
		}
		fmt.Println()
	}
}
