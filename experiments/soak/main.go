// Command soak kills a process that is writing to a Strata database at
// random moments, reopens the database after each kill and checks every
// key against an oracle: an acknowledged write must never be missing or
// wrong after a restart.
//
//	go run ./soak                       # one minute
//	go run ./soak -duration 30m -v      # a line per restart
//	go run ./soak -seed 7 -dir /tmp/s -keep
//
// It prints a status line every ten seconds and at the end
//
//	soak: 1234567 ops, 57 kills, 6 clean stops, 63 restarts, 0 losses, 0 errors in 30m0s
//
// and exits non-zero if a loss or an unexpected error was seen (the
// working directory is then kept for a post-mortem, with the op log of
// each run that lost something or met an error; -keep keeps every run's).
// A seed fixes the operations and the kill delays, not where the kills
// land among the operations: timing decides that.
//
// # Roles
//
// One binary plays both: the parent re-executes itself with -child as the
// first argument (a flag no user passes), so `go run` needs no second
// program and parent and child are always built from the same code.
// The child opens the database with small options (256 KiB memtables,
// level-0 merges at two runs, 512 KiB SSTs, a 4 MiB buffer pool) so that
// flushes, merges and file deletions happen every few hundred writes, and
// a new manifest is written at every Open. SyncWrites alternates between
// runs (a process kill loses nothing either way: an acknowledged write has
// reached the operating system), and so does Compression (snappy for two
// runs, none for two: files written either way must read back). PageSize
// (1024 or 4096, from the seed unless -page-size says) is the same for
// every open: only the Open that creates the database uses it.
//
// The child runs -writers writer goroutines (two by default, so group
// commit is exercised). Each owns a disjoint, window-aligned range of the
// key space, so it knows the exact state of its keys and can check every
// read it makes without coordinating with the others. Its mix: puts (a
// quarter of them to a few hundred hot keys, which then have versions in
// every level), deletes, batches of two to eight puts, deletes and small
// range deletes, DeleteRange over one to three windows or up to 150 keys,
// gets, gets of keys between the soak's keys, bounded scans forward and
// backward with every form of bound, SeekGE/SeekLT at and just after a key
// followed by random Next/Prev steps, occasional Flush and Compact of a
// range, and rarely Compact of everything. Now and then a writer takes a
// snapshot and hands it, with a copy of its view, to its reader goroutine,
// which checks a few hundred to two thousand reads against it while the
// writer goes on. A check that fails is printed on stderr as
// "soak-error: ..." and the child exits; the parent counts it as an
// unexpected error.
//
// # The oracle
//
// The oracle must outlive the child, so the child writes it down as it
// goes: an intent line before each mutation and an ack line after the call
// returned nil, appended to an op log with plain write(2) and no fsync
// (only the process dies, not the machine). The format is described in
// oplog.go. Values are not logged: the value of a write is a function of
// the key and a version (the operation's id and its position in a batch),
// so the checker recomputes it, and a wrong value found can be named (which
// key and which operation it came from). Sizes run from 0 bytes to 8 KiB,
// one in a hundred up to 64 KiB, half compressible and half not.
//
// After the child dies the parent applies the acknowledged operations of
// its log to the oracle. An operation with an intent and no ack was in
// flight: it may or may not have taken effect, but all of it or nothing
// (a batch or a range delete is one write). Each writer has at most one,
// and writers' keys are disjoint, so each is decided alone: the parent
// reads every key, decides from the keys the operation touches whether it
// was applied, and counts as a loss every key whose state matches neither
// the decided outcome. It then walks the whole database forward and
// backward, which must show exactly the expected keys in order, and
// repairs any key found wrong, so one loss is counted once. It writes the
// resolved state for the next child, which loads it as its starting view,
// and starts it with operation ids above every id in the log.
//
// The parent checks the database in-process, with its own Open and Close,
// rather than leaving it to the next child: nothing writes while it reads,
// so it sees exactly the state recovery produced, and a failed Open stops
// the soak instead of being retried (and perhaps repaired) by a new
// child's Open. After the Open it calls checkDB (check.go), the
// database's own verification of its files.
//
// A failed Get check inside the child reports what the Get found and what
// the same Get found 100 ms later, so a fault that the next flush or merge
// hides (the files were right, the lookup was not) is told from one that
// stays.
//
// # Stopping the child
//
// The parent sends SIGKILL after a random delay between -kill-min and
// -kill-max (a quarter of them in the first fifth of that range, during or
// just after the child's Open and WAL replay). One run in ten ends with
// SIGTERM instead: the child stops its goroutines and closes the database,
// which must finish within a minute and exit 0, so Close during merges is
// checked too. The child watches its stdin, whose other end the parent
// holds, and exits when the parent dies; it ignores Ctrl-C, which stops
// the parent after the current run.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(childMain(os.Args[2:]))
	}
	cfg := config{out: os.Stdout, reportEvery: 10 * time.Second}
	flag.DurationVar(&cfg.duration, "duration", time.Minute, "how long to run")
	flag.StringVar(&cfg.dir, "dir", "", "working directory (default: a new temporary directory); removed at the end unless -keep or a failure")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the working directory, with every run's op log (otherwise only those of failed runs are kept)")
	seed := flag.Int64("seed", 0, "random seed (default: from the clock; printed)")
	flag.BoolVar(&cfg.verbose, "v", false, "print a line per restart")
	flag.IntVar(&cfg.keys, "keys", 20000, "size of the key space, a multiple of 100 times -writers")
	flag.IntVar(&cfg.writers, "writers", 2, "writer goroutines in the child")
	flag.IntVar(&cfg.pageSize, "page-size", 0, "Options.PageSize, 1024 or 4096 (default: chosen by the seed)")
	flag.DurationVar(&cfg.killMin, "kill-min", 50*time.Millisecond, "shortest time a child runs before it is killed")
	flag.DurationVar(&cfg.killMax, "kill-max", 2*time.Second, "longest time a child runs before it is killed")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "soak: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano() % 1000000
	}
	cfg.seed = uint64(*seed)
	if cfg.pageSize == 0 {
		cfg.pageSize = [2]int{1024, 4096}[cfg.seed%2]
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}
	cfg.exe = exe
	t, err := runSoak(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		if t == nil {
			os.Exit(2)
		}
	}
	fmt.Printf("soak: %s\n", t)
	if err != nil || t.losses > 0 || t.errors > 0 {
		os.Exit(1)
	}
}
