package db_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log"
	"os"

	"github.com/seed-d6fe07da/strata/db"
)

// ts encodes an event time as a big-endian key, so byte order is time order.
func ts(t uint64) []byte { return binary.BigEndian.AppendUint64(nil, t) }

// Example_nearest finds the k events nearest in time to a target by walking
// outward from it in both directions: SeekGE gives the first event at or
// after the target, SeekLT the last one before it.
func Example_nearest() {
	dir, _ := os.MkdirTemp("", "strata-example-")
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	for _, t := range []uint64{100, 130, 180, 200, 260, 300} {
		d.Put(ts(t), []byte(fmt.Sprintf("event@%d", t)))
	}

	target, k := uint64(190), 3
	after, before := d.NewIter(nil), d.NewIter(nil)
	defer after.Close()
	defer before.Close()
	okA, okB := after.SeekGE(ts(target)), before.SeekLT(ts(target))
	for i := 0; i < k && (okA || okB); i++ {
		distA, distB := ^uint64(0), ^uint64(0)
		if okA {
			distA = binary.BigEndian.Uint64(after.Key()) - target
		}
		if okB {
			distB = target - binary.BigEndian.Uint64(before.Key())
		}
		if distA <= distB {
			fmt.Printf("%s (%d away)\n", after.Value(), distA)
			okA = after.Next()
		} else {
			fmt.Printf("%s (%d away)\n", before.Value(), distB)
			okB = before.Prev()
		}
	}
	// Output:
	// event@200 (10 away)
	// event@180 (10 away)
	// event@130 (60 away)
}

// Example_windowEviction keeps event-time windows and evicts a closed window
// with one range delete.
func Example_windowEviction() {
	dir, _ := os.MkdirTemp("", "strata-example-")
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	b := d.NewBatch()
	for t := uint64(0); t < 10; t++ {
		b.Put(ts(t*60), []byte("reading"))
	}
	if err := d.Write(b); err != nil {
		log.Fatal(err)
	}
	snap := d.NewSnapshot() // a consistent view for a slow reader
	defer snap.Close()

	// Evict the window [0, 300): the first five minutes.
	if err := d.DeleteRange(ts(0), ts(300)); err != nil {
		log.Fatal(err)
	}
	count := func(it *db.Iterator) int {
		n := 0
		for it.Next() {
			n++
		}
		it.Close()
		return n
	}
	fmt.Println("live:", count(d.Scan(nil, nil)), "snapshot:", count(snap.Scan(nil, nil)))
	it := d.NewIter(nil)
	it.First()
	fmt.Println("oldest live event at", binary.BigEndian.Uint64(it.Key()), bytes.Equal(it.Value(), []byte("reading")))
	it.Close()
	// Output:
	// live: 5 snapshot: 10
	// oldest live event at 300 true
}

// Example_range walks a key range with a range-over-func loop; the error
// that ends a failed scan early lands in err.
func Example_range() {
	dir, _ := os.MkdirTemp("", "strata-example-")
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	for _, user := range []string{"ada", "bob", "cy", "dee"} {
		d.Put([]byte("user/"+user), []byte("{}"))
	}
	for k := range d.Range([]byte("user/b"), []byte("user/d"), &err) {
		fmt.Printf("%s\n", k)
	}
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// user/bob
	// user/cy
}
