package main

import (
	"fmt"
	"io"

	"github.com/seed-d6fe07da/strata/db"
)

const statsAbout = `
Prints the tree as the manifest and the WALs give it: per level the sorted
runs, files, bytes, entries (tombstones and old versions included) and
Bloom filter bits per key; the totals; the memtable the WALs replay into;
read amplification (the runs a point lookup may probe, memtable
included), space amplification (the bytes of all levels over those of the
last) and the memory of the Bloom filters. Flush, merge and write
counters belong to the process that wrote the database and are not
shown.` + "\n" + readOnlyAbout

func runStats(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("stats", stderr, statsAbout)
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	d, status := openDB("stats", pos[0], true, stderr)
	if d == nil {
		return status
	}
	defer d.Close()
	printStats(stdout, d.Metrics())
	return exitOK
}

// printStats prints what Metrics says of the tree's shape.
func printStats(w io.Writer, m db.Metrics) {
	fmt.Fprintf(w, "level  runs  files        bytes      entries  bloom-bits/key\n")
	var total db.LevelMetrics
	var bits float64
	last := -1
	for l, lm := range m.Levels {
		if lm.Files == 0 {
			continue
		}
		fmt.Fprintf(w, "%5d %5d %6d %12d %12d %15.2f\n", l, lm.Runs, lm.Files, lm.Bytes, lm.Entries, lm.BloomBitsPerKey)
		total.Runs += lm.Runs
		total.Files += lm.Files
		total.Bytes += lm.Bytes
		total.Entries += lm.Entries
		bits += lm.BloomBitsPerKey * float64(lm.Entries)
		last = l
	}
	if total.Entries > 0 {
		total.BloomBitsPerKey = bits / float64(total.Entries)
	}
	fmt.Fprintf(w, "total %5d %6d %12d %12d %15.2f\n", total.Runs, total.Files, total.Bytes, total.Entries, total.BloomBitsPerKey)
	r := m.Recovery
	fmt.Fprintf(w, "memtable: %d bytes, from %d records of %d WALs\n", m.MemtableBytes, r.Records, r.WALs)
	if r.DroppedBytes > 0 {
		fmt.Fprintf(w, "WAL tail skipped: %d bytes (%s)\n", r.DroppedBytes, r.Damage)
	}
	fmt.Fprintf(w, "read amplification: %d runs\n", m.ReadAmplification)
	if last >= 0 && m.Levels[last].Bytes > 0 {
		fmt.Fprintf(w, "space amplification: %.2f (all levels / level %d)\n", float64(total.Bytes)/float64(m.Levels[last].Bytes), last)
	}
	fmt.Fprintf(w, "bloom filters: %d bytes\n", m.BloomBytes)
}
