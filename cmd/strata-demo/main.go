// Command strata-demo shows Strata at work: it loads keys, reads them back
// at random, scans a range, walks to the nearest key below a target,
// deletes, reopens the database and prints throughput and the tree's
// metrics.
//
//	go run ./cmd/strata-demo               # 200k keys in a temporary directory
//	go run ./cmd/strata-demo -n 1000000 -dir /tmp/strata-demo
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

func main() {
	n := flag.Int("n", 200_000, "keys to write")
	dir := flag.String("dir", "", "database directory (default: a new temporary directory, removed at exit)")
	flag.Parse()
	if err := run(*n, *dir); err != nil {
		log.Fatal(err)
	}
}

func key(i int) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(i))
	copy(k[8:], "event000")
	return k
}

func rate(ops int, d time.Duration) string {
	return fmt.Sprintf("%9.0f ops/s", float64(ops)/d.Seconds())
}

func run(n int, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "strata-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	d, err := db.Open(dir, nil)
	if err != nil {
		return err
	}
	value := make([]byte, 100)
	rng := rand.New(rand.NewSource(1))
	rng.Read(value)

	start := time.Now()
	for i := 0; i < n; i++ {
		if err := d.Put(key(rng.Intn(n)), value); err != nil {
			return err
		}
	}
	fmt.Printf("put       %8d random keys   %s\n", n, rate(n, time.Since(start)))

	start = time.Now()
	b := d.NewBatch()
	for i := 0; i < n; i++ {
		b.Put(key(i), value)
		if b.Len() == 1000 {
			if err := d.Write(b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	if err := d.Write(b); err != nil {
		return err
	}
	fmt.Printf("batch put %8d sequential    %s\n", n, rate(n, time.Since(start)))

	start = time.Now()
	for i := 0; i < n; i++ {
		if _, err := d.Get(key(rng.Intn(n))); err != nil {
			return fmt.Errorf("get: %w", err)
		}
	}
	fmt.Printf("get       %8d random hits   %s\n", n, rate(n, time.Since(start)))

	start = time.Now()
	misses := 0
	for i := 0; i < n; i++ {
		if _, err := d.Get(key(n + rng.Intn(n))); errors.Is(err, db.ErrNotFound) {
			misses++
		}
	}
	fmt.Printf("get       %8d misses        %s\n", misses, rate(n, time.Since(start)))

	start = time.Now()
	it := d.Scan(key(n/4), key(n/2))
	count := 0
	for it.Next() {
		count++
	}
	if err := it.Close(); err != nil {
		return err
	}
	fmt.Printf("scan      %8d keys in range %s\n", count, rate(count, time.Since(start)))

	// The closest key at or below a target: SeekLT just past it.
	target := append(key(n/3), 0)
	it = d.NewIter(nil)
	if it.SeekLT(target) {
		fmt.Printf("nearest key <= %x: %x\n", key(n/3), it.Key())
	}
	if err := it.Close(); err != nil {
		return err
	}

	for i := 0; i < n; i += 2 {
		if err := d.Delete(key(i)); err != nil {
			return err
		}
	}
	if err := d.Flush(); err != nil {
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	start = time.Now()
	if d, err = db.Open(dir, nil); err != nil {
		return err
	}
	fmt.Printf("reopen in %v\n", time.Since(start).Round(time.Millisecond))
	if _, err := d.Get(key(0)); !errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("deleted key 0: %v", err)
	}
	if _, err := d.Get(key(1)); err != nil {
		return fmt.Errorf("key 1: %w", err)
	}
	fmt.Printf("\n%s", d.Metrics())
	return d.Close()
}
