// Command secondaryindex keeps a secondary index beside its primary data
// in one database, consistent because every change to a record and to
// its index entries is one atomic batch. Records are users by id, indexed
// by city:
//
//	primary  "p/" id (8, BE)               -> city "\x00" name
//	index    "i/" city "\x00" id (8, BE)   -> (empty)
//
// A query for the users of a city, or of a range of cities, is one range
// scan of the index; the baseline it is benchmarked against scans every
// record and filters it.
//
//	go run ./examples/secondaryindex
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"os"

	"github.com/seed-d6fe07da/strata/db"
)

type user struct {
	id         uint64
	city, name string
}

func primaryKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte("p/"), id) }

func indexKey(city string, id uint64) []byte {
	k := append([]byte("i/"+city), 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// cityPrefix bounds the index entries of cities in [from, to): to ""
// means every city from from on.
func cityBounds(from, to string) (lo, hi []byte) {
	lo = append([]byte("i/"+from), 0)
	if to == "" {
		return lo, []byte("i0") // '0' follows '/'
	}
	return lo, append([]byte("i/"+to), 0)
}

func decodeRecord(id uint64, v []byte) user {
	city, name, _ := bytes.Cut(v, []byte{0})
	return user{id: id, city: string(city), name: string(name)}
}

// put writes u and moves its index entry, in one batch: a reader never
// sees the record without its entry or an entry without its record.
func put(d *db.DB, u user) error {
	old, err := d.Get(primaryKey(u.id))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	b := d.NewBatch()
	if err == nil {
		if prev := decodeRecord(u.id, old); prev.city != u.city {
			b.Delete(indexKey(prev.city, u.id))
		}
	}
	b.Put(primaryKey(u.id), []byte(u.city+"\x00"+u.name))
	b.Put(indexKey(u.city, u.id), nil)
	return d.Write(b)
}

// remove deletes u's record and its index entry.
func remove(d *db.DB, id uint64) error {
	old, err := d.Get(primaryKey(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	b := d.NewBatch()
	b.Delete(indexKey(decodeRecord(id, old).city, id))
	b.Delete(primaryKey(id))
	return d.Write(b)
}

// byCities returns the users living in cities [from, to) by the index,
// reading their records from a snapshot so that index and records agree.
func byCities(d *db.DB, from, to string) ([]user, error) {
	snap := d.NewSnapshot()
	defer snap.Close()
	lo, hi := cityBounds(from, to)
	it := snap.Scan(lo, hi)
	var out []user
	for it.Next() {
		k := it.Key()
		id := binary.BigEndian.Uint64(k[len(k)-8:])
		v, err := snap.Get(primaryKey(id))
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("index entry for %d without its record: %w", id, err)
		}
		out = append(out, decodeRecord(id, v))
	}
	return out, it.Close()
}

// byCitiesScan is the baseline: every record read and filtered. It
// returns users in index order (city, then id) to compare.
func byCitiesScan(d *db.DB, from, to string) ([]user, error) {
	it := d.Scan([]byte("p/"), []byte("p0"))
	var out []user
	for it.Next() {
		u := decodeRecord(binary.BigEndian.Uint64(it.Key()[2:]), it.Value())
		if u.city >= from && (to == "" || u.city < to) {
			out = append(out, u)
		}
	}
	sortByCity(out)
	return out, it.Close()
}

func sortByCity(us []user) {
	for i := 1; i < len(us); i++ { // insertion sort: the results are small
		for j := i; j > 0 && (us[j].city < us[j-1].city || us[j].city == us[j-1].city && us[j].id < us[j-1].id); j-- {
			us[j], us[j-1] = us[j-1], us[j]
		}
	}
}

func cityName(i int) string { return fmt.Sprintf("city-%04d", i) }

// load writes n users over cities cities, with moves and removals.
func load(d *db.DB, n, cities int, seed int64) error {
	rng := rand.New(rand.NewSource(seed))
	for i := range n {
		if err := put(d, user{uint64(i), cityName(rng.Intn(cities)), fmt.Sprintf("user %d", i)}); err != nil {
			return err
		}
	}
	for range n / 10 {
		id := uint64(rng.Intn(n))
		var err error
		if rng.Intn(4) == 0 {
			err = remove(d, id)
		} else {
			err = put(d, user{id, cityName(rng.Intn(cities)), fmt.Sprintf("moved %d", id)})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func main() {
	dir, err := os.MkdirTemp("", "strata-secondaryindex-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if err := load(d, 50_000, 1_000, 1); err != nil {
		log.Fatal(err)
	}
	us, err := byCities(d, cityName(42), cityName(43))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d users in %s, the first: %+v\n", len(us), cityName(42), us[0])
	us, err = byCities(d, cityName(100), cityName(110))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d users in cities %s to %s\n", len(us), cityName(100), cityName(109))
}
