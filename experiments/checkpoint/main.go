// Command checkpoint measures what DB.Checkpoint costs: it loads a
// database of -gib GiB (sorted tables of 100-byte random values, ingested,
// then random puts so the memtable holds data to flush), takes a
// checkpoint on the same filesystem (tables hard-linked) and one on
// another (tables copied, -copy-dir, default /dev/shm), and prints the
// time and the bytes linked and copied of each, and of an incremental
// checkpoint taken after more writes.
//
//	cd experiments && go run ./checkpoint -gib 1
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

func main() {
	gib := flag.Float64("gib", 1, "database size to load, GiB of user data")
	dir := flag.String("dir", "", "parent directory of the database (default: a new one under $TMPDIR)")
	copyDir := flag.String("copy-dir", "/dev/shm", "a directory on another filesystem, for the copied checkpoint")
	flag.Parse()
	parent := *dir
	if parent == "" {
		var err error
		if parent, err = os.MkdirTemp("", "strata-checkpoint"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(parent)
	}
	d, err := db.Open(filepath.Join(parent, "db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	const valueSize, perTable = 100, 1_000_000
	keys := int(*gib * (1 << 30) / (16 + valueSize))
	value := make([]byte, valueSize)
	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	for first := 0; first < keys; first += perTable {
		path := filepath.Join(parent, fmt.Sprintf("load-%d.sst", first))
		w, err := db.NewTableWriter(path, nil)
		if err != nil {
			log.Fatal(err)
		}
		for i := first; i < min(first+perTable, keys); i++ {
			rng.Read(value)
			if err := w.Set(key(i), value); err != nil {
				log.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
		if err := d.Ingest(path); err != nil {
			log.Fatal(err)
		}
		os.Remove(path)
	}
	put := func(n int) {
		for range n {
			rng.Read(value)
			if err := d.Put(key(rng.Intn(keys)), value); err != nil {
				log.Fatal(err)
			}
		}
	}
	put(50_000)
	fmt.Printf("loaded %d keys (%.2f GiB of user data) in %v\n\n", keys, float64(keys*(16+valueSize))/(1<<30), time.Since(start).Round(time.Millisecond))

	fmt.Println("| checkpoint | time | tables | bytes linked | bytes copied |")
	fmt.Println("|---|---|---|---|---|")
	take := func(name, to string) *db.CheckpointInfo {
		start := time.Now()
		info, err := d.Checkpoint(to)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("| %s | %v | %d | %d | %d |\n", name, time.Since(start).Round(time.Millisecond), len(info.Tables), info.LinkedBytes, info.CopiedBytes)
		return info
	}
	first := take("same filesystem (links)", filepath.Join(parent, "ckpt-1"))
	put(200_000)
	second := take("same filesystem, after 200k more puts", filepath.Join(parent, "ckpt-2"))
	added, dropped := second.Since(first)
	var addedBytes int64
	for _, t := range added {
		if fi, err := os.Stat(filepath.Join(second.Dir, t)); err == nil {
			addedBytes += fi.Size()
		}
	}
	if *copyDir != "" {
		other, err := os.MkdirTemp(*copyDir, "strata-checkpoint-copy")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(other)
		take(fmt.Sprintf("another filesystem (%s: copies)", *copyDir), filepath.Join(other, "ckpt"))
	}
	fmt.Printf("\nincremental: the second checkpoint adds %d tables (%d bytes) to the first and drops %d\n", len(added), addedBytes, len(dropped))
}

func key(i int) []byte {
	return binary.BigEndian.AppendUint64([]byte("user0000"), uint64(i))
}
