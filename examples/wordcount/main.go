// Command wordcount counts words over a stream of lines the way HDHT-style
// stream state does: the state is split into buckets by key prefix, each
// application window of lines is committed as one synced batch that adds
// the window's counts (merge operands: blind writes, no read before
// them) and records the next window to process, and after a crash the
// count resumes from the last committed window, so every line is counted
// exactly once.
//
//	count   "c/" bucket (2, BE) word  -> uint64 (BE), folded by a counter merge operator
//	commit  "meta/next-window"          -> uint64 (BE)
//
// The lines are generated from their number, so a restarted run reads
// the same stream.
//
//	go run ./examples/wordcount -dir /tmp/wc -windows 100
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"math/rand"
	"os"
	"sort"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

const (
	buckets        = 16
	linesPerWindow = 200
	wordsPerLine   = 10
	vocabulary     = 5_000
)

var commitKey = []byte("meta/next-window")

// addCounts is the merge operator: operands and values are uint64 counts.
func addCounts(_, existing, operand []byte) ([]byte, error) {
	if len(operand) != 8 || (existing != nil && len(existing) != 8) {
		return nil, errors.New("a count is 8 bytes")
	}
	var n uint64
	if existing != nil {
		n = binary.BigEndian.Uint64(existing)
	}
	return binary.BigEndian.AppendUint64(existing[:0], n+binary.BigEndian.Uint64(operand)), nil
}

func options() *db.Options { return &db.Options{Merge: addCounts, SyncWrites: true} }

func countKey(word string) []byte {
	h := fnv.New32a()
	h.Write([]byte(word))
	k := binary.BigEndian.AppendUint16([]byte("c/"), uint16(h.Sum32()%buckets))
	return append(k, word...)
}

// windowCounts returns the word counts of window w's lines.
func windowCounts(w int) map[string]uint64 {
	counts := make(map[string]uint64)
	for line := w * linesPerWindow; line < (w+1)*linesPerWindow; line++ {
		rng := rand.New(rand.NewSource(int64(line)))
		z := rand.NewZipf(rng, 1.1, 1, vocabulary-1)
		for range wordsPerLine {
			counts[fmt.Sprintf("w%d", z.Uint64())]++
		}
	}
	return counts
}

// nextWindow returns the first window not yet committed.
func nextWindow(d *db.DB) (int, error) {
	v, err := d.Get(commitKey)
	if errors.Is(err, db.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint64(v)), nil
}

// commitWindow adds window w's counts as merge operands and records w+1
// as the next window, in one synced batch.
func commitWindow(d *db.DB, w int, counts map[string]uint64) error {
	b := d.NewBatch()
	for word, n := range counts {
		b.Merge(countKey(word), binary.BigEndian.AppendUint64(nil, n))
	}
	b.Put(commitKey, binary.BigEndian.AppendUint64(nil, uint64(w+1)))
	return d.Write(b)
}

// commitWindowGetPut is the baseline: each word's count read, added to
// and written back, then the batch committed.
func commitWindowGetPut(d *db.DB, w int, counts map[string]uint64) error {
	b := d.NewBatch()
	for word, n := range counts {
		k := countKey(word)
		v, err := d.Get(k)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var old uint64
		if err == nil {
			old = binary.BigEndian.Uint64(v)
		}
		b.Put(k, binary.BigEndian.AppendUint64(nil, old+n))
	}
	b.Put(commitKey, binary.BigEndian.AppendUint64(nil, uint64(w+1)))
	return d.Write(b)
}

// run counts windows from the first uncommitted one up to windows.
func run(dir string, windows int, pause time.Duration) error {
	d, err := db.Open(dir, options())
	if err != nil {
		return err
	}
	defer d.Close()
	next, err := nextWindow(d)
	if err != nil {
		return err
	}
	if next > 0 {
		fmt.Printf("resuming at window %d\n", next)
	}
	for w := next; w < windows; w++ {
		if err := commitWindow(d, w, windowCounts(w)); err != nil {
			return err
		}
		time.Sleep(pause)
	}
	return nil
}

// top returns the n most frequent words of bucket b.
func top(d *db.DB, b uint16, n int) ([]string, error) {
	prefix := binary.BigEndian.AppendUint16([]byte("c/"), b)
	end := binary.BigEndian.AppendUint16([]byte("c/"), b+1)
	it := d.Scan(prefix, end)
	type wc struct {
		word  string
		count uint64
	}
	var all []wc
	for it.Next() {
		all = append(all, wc{string(it.Key()[len(prefix):]), binary.BigEndian.Uint64(it.Value())})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].count > all[j].count })
	var out []string
	for _, x := range all[:min(n, len(all))] {
		out = append(out, fmt.Sprintf("%s=%d", x.word, x.count))
	}
	return out, nil
}

func main() {
	dir := flag.String("dir", "", "database directory (default: a temporary one)")
	windows := flag.Int("windows", 100, "windows of 200 lines to count")
	pause := flag.Duration("pause", 0, "sleep after each window (to kill a run part way)")
	flag.Parse()
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "strata-wordcount-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	if err := run(*dir, *windows, *pause); err != nil {
		log.Fatal(err)
	}
	d, err := db.Open(*dir, options())
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	words, err := top(d, 0, 5)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d windows counted; bucket 0's top words: %v\n", *windows, words)
}
