// Command peers runs the same db_bench-style workloads against Strata,
// Pebble, goleveldb and Badger, each in a process of its own, and writes
// the medians side by side: a CSV, a bar chart and a markdown report.
//
//	cd experiments/peers && go run . -n 1000000 -reps 3 -out ../../results
//
// # Driver and workers
//
// Without -worker the command is the driver. For each repetition it
// re-executes itself once per engine with
//
//	-worker -engine E -workload all -rep R -n N ...
//
// rotating the engine order by one position per repetition (rep 0 runs
// strata, pebble, goleveldb, badger; rep 1 pebble, goleveldb, badger,
// strata; ...), so that no engine always runs first on a cold machine or
// last after the others warmed the page cache. A worker prints one JSON
// line on stdout and one progress line per phase on stderr; the driver
// reports the median over repetitions of every number.
//
// # The sequence a worker runs
//
// Keys are 16 ASCII digits, values 100 bytes (half random printable bytes,
// half a repeat of them, so a block compressor halves them as db_bench's
// default -compression_ratio=0.5 does; see -value-random). Key i is the
// 16-digit decimal of 2i: the keys written are the even numbers below 2N,
// and readmissing asks for odd ones, which lie between the written keys
// rather than beyond them, so only Bloom filters (not file bounds) can
// answer them cheaply.
//
//  1. fillseq: N puts in key order into a fresh database (directory
//     fillseq/), which is then closed and deleted. Timed: the puts only.
//  2. A second fresh database (directory main/):
//     fillrandom: N puts, every key once, in a pseudo-random order;
//     overwrite: N puts of keys drawn uniformly (with replacement);
//     readrandom: -reads gets of keys drawn uniformly (all present);
//     readmissing: -reads gets of absent keys;
//     readrandom4: -reads gets split over 4 goroutines;
//     seeknext100: -seeks iterators, each a seek to a random key and 100 Nexts;
//     readseq: a full scan from the first key.
//  3. Close. Write amplification and disk usage are measured here.
//  4. Reopen (timed as reopen_ms), then readrandom-reopen (-reads gets) and
//     readseq-reopen (a full scan), and close.
//
// Background flushes and merges are never waited for: reads run while the
// writes' merges may still be going on, as in db_bench.
//
// -workload fillseq or -workload main runs only step 1 or steps 2-4.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// run is main with its arguments and output streams passed in, so that the
// test can drive it.
func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.worker {
		return runWorker(cfg, stdout, stderr)
	}
	return runDriver(cfg, stderr)
}
