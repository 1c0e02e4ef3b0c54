package main

import (
	"fmt"
	"io"
)

const checkAbout = `
Verifies every file of the database in DIR: each SST read whole
(checksums, entry order, B+Tree, Bloom filter), the runs of each level,
the manifest on disk against the tree and the directory, seqnum ranges.
Prints a line per problem and exits 0 if there is none, 1 otherwise.

It opens the database as db.Open does, so it recovers it first (a WAL tail
a crash left is cut off and replayed into a new SST, a new manifest is
written) and needs the database's lock. With --read-only it writes
nothing and takes no lock, so it can run beside a process that has the
database open; it then checks the SSTs and runs as of its start, but not
the manifest on disk, which that process may be moving on.`

// runCheck opens the database in the directory given, runs DB.Check and
// prints its report.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr, checkAbout)
	readOnly := fs.Bool("read-only", false, "open read-only: no recovery, no lock, no manifest comparison")
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	d, status := openDB("check", pos[0], *readOnly, stderr)
	if d == nil {
		return status
	}
	defer d.Close()
	rep, _ := d.Check()
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p)
	}
	if r := d.Metrics().Recovery; r.DroppedBytes > 0 {
		verb := "dropped"
		if *readOnly {
			verb = "skipped"
		}
		fmt.Fprintf(stdout, "note: recovery %s %d bytes of an unsynced WAL tail (%s)\n", verb, r.DroppedBytes, r.Damage)
	}
	summary := "ok"
	if len(rep.Problems) > 0 {
		summary = fmt.Sprintf("%d problems", len(rep.Problems))
	}
	fmt.Fprintf(stdout, "%s: %d files, %d pages, %d entries checked\n", summary, rep.Files, rep.Pages, rep.Entries)
	if len(rep.Problems) > 0 {
		return exitProblem
	}
	return exitOK
}
