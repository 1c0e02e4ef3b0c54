// Command peers runs the same db_bench-style workloads against Strata,
// Pebble, goleveldb and Badger, each in a process of its own, and writes
// the medians side by side: a CSV, a bar chart and a markdown report. It
// also runs the YCSB core workloads (-workload ycsb) and a sweep over
// value sizes (-sweep).
//
//	cd experiments/peers && go run . -n 1000000 -reps 3 -out ../../results
//	cd experiments/peers && go run . -sweep -reps 3 -out ../../results/sweep
//	cd experiments/peers && go run . -workload ycsb -reps 3 -out ../../results
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
// Keys are 16 ASCII digits, values -value-size bytes (default 100, as
// db_bench's). As db_bench builds them, every 100 bytes of a value are a
// fraction -value-random of random printable bytes followed by a repeat
// of them, so a compressor shrinks a value to about that fraction at any
// size (the default 0.5 is db_bench's -compression_ratio; 1 is
// incompressible). Key i is the
// 16-digit decimal of 2i: the keys written are the even numbers below 2N,
// and readmissing asks for odd ones, which lie between the written keys
// rather than beyond them, so only Bloom filters (not file bounds) can
// answer them cheaply.
//
//  1. fillseq: N puts in key order into a fresh database (directory
//     fillseq-0/), which is then closed and deleted; -fillseq-rounds
//     times (default 3), each into a fresh database. Timed: the puts
//     only, the rounds' summed.
//  2. fillsync1 and fillsync16: -sync-ops puts (default N/10, capped at
//     20 000) in a pseudo-random order from 1 and from 16 goroutines,
//     each into a fresh database opened in the engine's synced-write mode
//     (every put returns once durable), then closed and deleted.
//  3. Another fresh database (directory main/):
//     fillrandom: N puts, every key once, in a pseudo-random order;
//     overwrite: N puts of keys drawn uniformly (with replacement);
//     readrandom: -reads gets of keys drawn uniformly (all present);
//     readmissing: -reads gets of absent keys;
//     readrandom4: -reads gets split over 4 goroutines;
//     seeknext100: -seeks iterators, each a seek to a random key and 100 Nexts;
//     readseq: a full scan from the first key.
//  4. Close. Write amplification and disk usage are measured here.
//  5. Reopen (timed as reopen_ms), then readrandom-reopen (-reads gets) and
//     readseq-reopen (a full scan), and close.
//
// Background flushes and merges are never waited for: reads run while the
// writes' merges may still be going on, as in db_bench. Every put, get and
// seek is also timed on its own (the monotonic clock read around the call,
// into an HdrHistogram), and the reports give p50, p99 and p99.9 per phase.
//
// -workload fillseq, sync or main runs only step 1, step 2 or steps 3-5.
//
// -strata-write-behind opens Strata with Options.WALWriteBehind, so that
// its unsynced writes promise what Pebble's do (a crash of the process may
// lose the latest) rather than more; the report's settings table says so.
// -profile-phase P -profile-out F has a worker CPU-profile phase P into F,
// or record an execution trace of it if F ends in .trace.
//
// # Value-size sweep
//
// -sweep runs the whole sequence for 100-byte values (1M keys), 1000-byte
// (200k), 4 KiB (50k) and 64 KiB (3k), each with -value-random 1 and 0.5;
// -sweep-scale multiplies every key count (-sweep-scale 0.01 for a quick
// look). Each point writes its peers.csv, peers.md and peers.png into a
// directory of -out named v<size>-r<random> (v4096-r0.5); after every
// point, sweep.md holds one table of all points done (Strata's ratio to
// the best peer per workload, write and space amplification per engine)
// and sweep.csv their rows.
//
// # YCSB
//
// -workload ycsb runs YCSB's core workloads A-F (see ycsb.go) with
// -ycsb-records records of 1000 bytes (default 300000) and -ycsb-ops
// operations per workload (default 100000) from 4 client goroutines:
// load, A, B, C, F, D, then a fresh load and E. It writes ycsb.csv,
// ycsb.md and ycsb.png: throughput and latency percentiles per workload,
// and the p99 of each operation type.
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
