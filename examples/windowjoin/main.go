// Command windowjoin is a windowed stream-stream join whose state lives in
// Strata: two event streams (left and right) are buffered per join key and
// event time, each arriving event is joined with the other side's events
// of the same key within ±window of its time, and state that no later
// event can join is evicted with one DeleteRange per side as the watermark
// passes.
//
// Keys lead with a time bucket, so eviction is a range delete of the
// oldest buckets, and a probe is a seek per bucket straight to the join
// key's events:
//
//	side (1 byte) | bucket = time/bucketSpan (8, BE) | join key (8, BE) | time (8, BE) | seq (4, BE)
//
// The baseline keeps what the state backends of stream processors kept
// before sorted state: one key per side and bucket holding a serialized
// list of the bucket's events, appended by a get and a put, and a probe
// that decodes the whole list and filters it.
//
//	go run ./examples/windowjoin
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"os"

	"github.com/seed-d6fe07da/strata/db"
)

// An event of one side.
type event struct {
	key, t uint64
	seq    uint32 // tells apart events of one key at one time
}

// A match is a pair of joined events.
type match struct{ left, right event }

const (
	left, right = byte('L'), byte('R')
	bucketSpan  = 10_000 // event-time units per bucket
)

func other(side byte) byte {
	if side == left {
		return right
	}
	return left
}

func stateKey(side byte, e event) []byte {
	k := append(make([]byte, 0, 29), side)
	k = binary.BigEndian.AppendUint64(k, e.t/bucketSpan)
	k = binary.BigEndian.AppendUint64(k, e.key)
	k = binary.BigEndian.AppendUint64(k, e.t)
	return binary.BigEndian.AppendUint32(k, e.seq)
}

func bucketStart(side byte, bucket uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{side}, bucket)
}

// joiner is the join on sorted state.
type joiner struct {
	d      *db.DB
	window uint64
}

// add buffers e on its side and returns its matches with the other side.
func (j *joiner) add(side byte, e event) ([]match, error) {
	if err := j.d.Put(stateKey(side, e), nil); err != nil {
		return nil, err
	}
	lo, hi := e.t-min(e.t, j.window), e.t+j.window
	var out []match
	for b := lo / bucketSpan; b <= hi/bucketSpan; b++ {
		prefix := binary.BigEndian.AppendUint64(bucketStart(other(side), b), e.key)
		start := binary.BigEndian.AppendUint64(append([]byte{}, prefix...), lo)
		end := binary.BigEndian.AppendUint64(append([]byte{}, prefix...), hi+1)
		it := j.d.Scan(start, end)
		for it.Next() {
			k := it.Key()
			o := event{key: e.key, t: binary.BigEndian.Uint64(k[17:]), seq: binary.BigEndian.Uint32(k[25:])}
			out = append(out, pair(side, e, o))
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func pair(side byte, e, o event) match {
	if side == left {
		return match{e, o}
	}
	return match{o, e}
}

// advance evicts what no event at or after watermark can join.
func (j *joiner) advance(watermark uint64) error { return evict(j.d, j.window, watermark) }

// evict deletes, on both sides, the buckets wholly before
// watermark-window: one range delete per side. Both layouts lead with
// side and bucket.
func evict(d *db.DB, window, watermark uint64) error {
	if watermark < window {
		return nil
	}
	keep := (watermark - window) / bucketSpan
	for _, side := range []byte{left, right} {
		if err := d.DeleteRange(bucketStart(side, 0), bucketStart(side, keep)); err != nil {
			return err
		}
	}
	return nil
}

// listJoiner is the baseline: one key per side and bucket holding the
// bucket's events as a list of 20-byte records.
type listJoiner struct {
	d      *db.DB
	window uint64
}

func (j *listJoiner) add(side byte, e event) ([]match, error) {
	k := bucketStart(side, e.t/bucketSpan)
	list, err := j.d.Get(k)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	list = binary.BigEndian.AppendUint64(list, e.key)
	list = binary.BigEndian.AppendUint64(list, e.t)
	list = binary.BigEndian.AppendUint32(list, e.seq)
	if err := j.d.Put(k, list); err != nil {
		return nil, err
	}
	lo, hi := e.t-min(e.t, j.window), e.t+j.window
	var out []match
	for b := lo / bucketSpan; b <= hi/bucketSpan; b++ {
		list, err := j.d.Get(bucketStart(other(side), b))
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for ; len(list) >= 20; list = list[20:] {
			o := event{binary.BigEndian.Uint64(list), binary.BigEndian.Uint64(list[8:]), binary.BigEndian.Uint32(list[16:])}
			if o.key == e.key && o.t >= lo && o.t <= hi {
				out = append(out, pair(side, e, o))
			}
		}
	}
	return out, nil
}

func (j *listJoiner) advance(watermark uint64) error { return evict(j.d, j.window, watermark) }

// stream generates n events, alternating sides at random, over keys join
// keys, in time order with some disorder (up to a tenth of the window
// late); the watermark trails the newest time by a tenth of the window.
func stream(n int, keys uint64, window uint64, seed int64, fn func(side byte, e event, watermark uint64) error) error {
	rng := rand.New(rand.NewSource(seed))
	var now uint64
	for i := range n {
		now += uint64(rng.Intn(3))
		t := now - min(now, uint64(rng.Int63n(int64(window/10)+1)))
		side := left
		if rng.Intn(2) == 0 {
			side = right
		}
		wm := now - min(now, window/10)
		if err := fn(side, event{key: uint64(rng.Int63n(int64(keys))), t: t, seq: uint32(i)}, wm); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	dir, err := os.MkdirTemp("", "strata-windowjoin-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	j := &joiner{d: d, window: 5_000}
	var matches, events int
	err = stream(200_000, 1_000, j.window, 1, func(side byte, e event, wm uint64) error {
		ms, err := j.add(side, e)
		if err != nil {
			return err
		}
		matches += len(ms)
		if events++; events%10_000 == 0 {
			return j.advance(wm)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	live := 0
	it := d.Scan(nil, nil)
	for it.Next() {
		live++
	}
	if err := it.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d events joined into %d matches; %d events still buffered after eviction\n", events, matches, live)
}
