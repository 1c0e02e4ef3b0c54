// Command ingestbench times loading sorted data into a new database two
// ways, in Strata and in Pebble: a Put of every key followed by a Flush,
// and writing one table outside the database followed by an Ingest (the
// time includes writing the table). Engines and methods alternate within
// each repetition; it prints a markdown table of medians.
//
//	cd experiments/peers && go run ./ingestbench -n 1000000 -reps 3
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/seed-d6fe07da/strata/db"
)

func main() {
	n := flag.Int("n", 1_000_000, "keys loaded")
	valueSize := flag.Int("value-size", 100, "bytes of every value (random)")
	reps := flag.Int("reps", 3, "repetitions")
	dir := flag.String("dir", "", "parent directory of the databases (default: a new one under $TMPDIR)")
	flag.Parse()
	parent := *dir
	if parent == "" {
		var err error
		if parent, err = os.MkdirTemp("", "strata-ingest"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(parent)
	}
	value := make([]byte, *valueSize)
	rand.New(rand.NewSource(1)).Read(value)
	key := func(buf []byte, i int) []byte {
		return binary.BigEndian.AppendUint64(append(buf[:0], "key-"...), uint64(i))
	}
	runs := []struct {
		name string
		run  func(dir string) error
	}{
		{"strata put", func(dir string) error { return strataPut(dir, *n, key, value) }},
		{"strata ingest", func(dir string) error { return strataIngest(dir, *n, key, value) }},
		{"pebble put", func(dir string) error { return pebblePut(dir, *n, key, value) }},
		{"pebble ingest", func(dir string) error { return pebbleIngest(dir, *n, key, value) }},
	}
	times := make(map[string][]time.Duration)
	for rep := range *reps {
		for i, r := range runs {
			d := filepath.Join(parent, fmt.Sprintf("r%d-%d", rep, i))
			start := time.Now()
			if err := r.run(d); err != nil {
				log.Fatalf("%s: %v", r.name, err)
			}
			el := time.Since(start)
			times[r.name] = append(times[r.name], el)
			fmt.Fprintf(os.Stderr, "ingestbench: rep %d %-14s %v\n", rep, r.name, el.Round(time.Millisecond))
			os.RemoveAll(d)
		}
	}
	med := func(name string) time.Duration {
		ts := slices.Clone(times[name])
		slices.Sort(ts)
		return ts[len(ts)/2]
	}
	fmt.Printf("%d sorted keys of 12 bytes, %d-byte random values, medians of %d runs\n\n", *n, *valueSize, *reps)
	fmt.Println("| load | Strata | Pebble | Strata / Pebble (time) |")
	fmt.Println("|---|---|---|---|")
	for _, m := range []string{"put", "ingest"} {
		s, p := med("strata "+m), med("pebble "+m)
		fmt.Printf("| %s | %v | %v | %.2f |\n", m, s.Round(time.Millisecond), p.Round(time.Millisecond), float64(s)/float64(p))
	}
	fmt.Printf("\nIngest against put, same engine (time): Strata %.2f, Pebble %.2f\n",
		float64(med("strata ingest"))/float64(med("strata put")), float64(med("pebble ingest"))/float64(med("pebble put")))
}

func strataPut(dir string, n int, key func([]byte, int) []byte, value []byte) error {
	d, err := db.Open(dir, nil)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range n {
		buf = key(buf, i)
		if err := d.Put(buf, value); err != nil {
			return err
		}
	}
	if err := d.Flush(); err != nil {
		return err
	}
	return d.Close()
}

func strataIngest(dir string, n int, key func([]byte, int) []byte, value []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "..", filepath.Base(dir)+".sst")
	defer os.Remove(path)
	w, err := db.NewTableWriter(path, nil)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range n {
		buf = key(buf, i)
		if err := w.Set(buf, value); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	d, err := db.Open(dir, nil)
	if err != nil {
		return err
	}
	if err := d.Ingest(path); err != nil {
		return err
	}
	return d.Close()
}

func pebbleOptions() *pebble.Options {
	o := &pebble.Options{}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

func pebblePut(dir string, n int, key func([]byte, int) []byte, value []byte) error {
	d, err := pebble.Open(dir, pebbleOptions())
	if err != nil {
		return err
	}
	var buf []byte
	for i := range n {
		buf = key(buf, i)
		if err := d.Set(buf, value, pebble.NoSync); err != nil {
			return err
		}
	}
	if err := d.Flush(); err != nil {
		return err
	}
	return d.Close()
}

func pebbleIngest(dir string, n int, key func([]byte, int) []byte, value []byte) error {
	opts := pebbleOptions()
	opts.EnsureDefaults()
	d, err := pebble.Open(dir, opts)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "..", filepath.Base(dir)+".sst")
	defer os.Remove(path)
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), opts.MakeWriterOptions(0, d.TableFormat()))
	var buf []byte
	for i := range n {
		buf = key(buf, i)
		if err := w.Set(buf, value); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := d.Ingest(context.Background(), []string{path}); err != nil {
		return err
	}
	return d.Close()
}
