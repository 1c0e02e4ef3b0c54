// Command strata is the operator's tool for a Strata database directory.
//
//	strata check DIR     verify every file; a line per problem; exit 0 healthy, 1 damaged
//
// check opens the database as db.Open does, so it recovers it first: a WAL
// tail a crash left is cut off and replayed into a new SST, and a new
// manifest is written. Exit status 1 also covers a database that recovery
// finds corrupt (the message names the file); 2 means the command could
// not run (bad usage, or another process holds the database).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/seed-d6fe07da/strata/db"
)

// Exit statuses.
const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "strata: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: strata <command> [arguments]

commands:
  check DIR   verify every file of the database in DIR: each SST read whole
              (checksums, order, B+Tree, Bloom filter), the runs, the
              manifest against the directory; prints a line per problem and
              exits 0 if there is none, 1 otherwise
`)
}

// check opens the database in the directory given, runs DB.Check and
// prints its report.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: strata check DIR") }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	dir := fs.Arg(0)
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		// Open would make a new database here: say what is missing.
		fmt.Fprintf(stderr, "strata: check: %s is not a Strata database: %v\n", dir, err)
		return exitUsage
	}
	d, err := db.Open(dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "strata: check: %v\n", err)
		if errors.Is(err, db.ErrCorruption) {
			return exitProblem
		}
		return exitUsage
	}
	defer d.Close()
	rep, _ := d.Check()
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p)
	}
	if r := d.Metrics().Recovery; r.DroppedBytes > 0 {
		fmt.Fprintf(stdout, "note: recovery dropped %d bytes of an unsynced WAL tail (%s)\n", r.DroppedBytes, r.Damage)
	}
	status := "ok"
	if len(rep.Problems) > 0 {
		status = fmt.Sprintf("%d problems", len(rep.Problems))
	}
	fmt.Fprintf(stdout, "%s: %d files, %d pages, %d entries checked\n", status, rep.Files, rep.Pages, rep.Entries)
	if len(rep.Problems) > 0 {
		return exitProblem
	}
	return exitOK
}
