// Command strata is the operator's tool for a Strata database directory.
//
//	strata get DIR KEY                 print a key's value; exit 1 if absent
//	strata put DIR KEY VALUE           write a key
//	strata delete DIR KEY              delete a key
//	strata scan DIR [flags]            print keys and values in order
//	strata stats DIR                   the tree's levels, runs, files, bytes
//	strata check DIR                   verify every file
//	strata sst dump FILE               one SST's metadata, pages, tree, keys
//	strata manifest dump DIR           every edit of the current manifest
//	strata bench DIR [flags]           db_bench workloads, ops/s and latency
//
// Run "strata help" for a line on each, "strata CMD -h" for its flags.
//
// # Read-only commands
//
// get, scan and stats open the database with Options.ReadOnly: they take
// no lock, write nothing (no WAL tail is cut, nothing is flushed, no merge
// runs), and so work beside a process that has the database open. What
// they see is the database as of their Open: the SSTs the manifest named
// then, and every record the WALs held then, replayed into memory. A
// writer's Put has handed its WAL record to the kernel before it returns,
// synced or not, so every write acknowledged before the command started
// is seen; a record being appended at that instant may be seen cut short,
// and is skipped as a torn tail. When the writer removes a file the
// command was about to read (an SST a merge replaced, a WAL whose writes
// were flushed; under steady writes with small memtables a WAL lasts
// milliseconds), the open is tried again, up to openTries times, and get
// as a whole too; a scan that loses a file part way fails (exit 2). sst
// dump and manifest dump read the files themselves and never open the
// database.
//
// check opens the database as db.Open does, so it recovers it first: a WAL
// tail a crash left is cut off and replayed into a new SST, and a new
// manifest is written. That lets it compare the manifest on disk with the
// tree and check the WAL in use, which a read-only open cannot do (a
// writer beside it may have moved the manifest on). check --read-only
// checks the SSTs and runs without recovering or taking the lock, for a
// database another process has open. put, delete and bench open the
// database normally and need its lock.
//
// # Keys and values
//
// Arguments are taken as text: the bytes of the argument. With --hex they
// are hex, with --quote Go string literals (strconv.Unquote; the
// surrounding double quotes may be left out). Output follows the same
// flag: hex with --hex, always quoted with --quote, and otherwise as text
// when the bytes are non-empty valid UTF-8 of printable characters (space
// included, tab and newline not) that does not start with a double quote,
// and Go-quoted (strconv.Quote) when not: so a quoted string on output
// always begins with a double quote.
//
// # Exit status
//
// 0 success; 1 a problem the command found (a key not found, damage);
// 2 the command could not run (bad usage, no database, another process
// holds the lock, an I/O error).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// Exit statuses.
const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
)

// command is a subcommand: its name (two words for a group such as "sst
// dump"), its positional arguments and a one-line summary for help, and
// the function that runs it with the arguments after the name.
type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order help shows them. It is
// filled in by init to break the cycle through the help command.
var commands []command

func init() {
	commands = []command{
		{"get", "DIR KEY", "print KEY's value (read-only); exit 1 if none", runGet},
		{"put", "DIR KEY VALUE", "set KEY to VALUE", runPut},
		{"delete", "DIR KEY", "delete KEY", runDelete},
		{"scan", "DIR", "print keys and values in order (read-only)", runScan},
		{"stats", "DIR", "levels, runs, bytes, Bloom bits (read-only)", runStats},
		{"check", "DIR", "verify every file; exit 0 healthy, 1 damaged", runCheck},
		{"sst dump", "FILE", "an SST's metadata, pages, tree, filter, keys", runSSTDump},
		{"manifest dump", "DIR|MANIFEST", "every edit of the current manifest", runManifestDump},
		{"bench", "DIR", "db_bench workloads: ops/s, p50/p99 latency", runBench},
		{"help", "", "print this list", func(_ []string, stdout, _ io.Writer) int { usage(stdout); return exitOK }},
	}
}

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
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(args[len(words):], stdout, stderr)
		}
	}
	if args[0] == "sst" || args[0] == "manifest" {
		fmt.Fprintf(stderr, "strata: %s: want \"%s dump\"\n", args[0], args[0])
	} else {
		fmt.Fprintf(stderr, "strata: unknown command %q\n", args[0])
	}
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: strata <command> [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-26s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, `
Run "strata <command> -h" for a command's arguments and flags. Read-only
commands work beside a process that has the database open and see it as
of their start. Keys and values are text; --hex and --quote take and
print them as hex or Go string literals. Exit status: 0 ok, 1 a problem
found (not found, damage), 2 could not run.
`)
}

// newFlags returns the flag set of the command called name, printing
// its usage (the argument line, then about, then the flags; flags may
// come before or after the arguments) for -h or a bad flag.
func newFlags(name string, stderr io.Writer, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		for _, c := range commands {
			if c.name == name {
				opt := ""
				if n > 0 {
					opt = " [flags]"
				}
				fmt.Fprintf(w, "usage: strata %s %s%s\n", c.name, c.args, opt)
			}
		}
		if about != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(about))
		}
		if n > 0 {
			fmt.Fprint(w, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (flag.Parse stops at the first of those), checks
// that there are want of them, and returns them. Arguments after "--"
// are positional. status is -1 on success, else the exit status: 0 after
// -h printed the usage to stdout, 2 after a usage error.
func parseArgs(fs *flag.FlagSet, args []string, want int, stdout io.Writer) (pos []string, status int) {
	usage := fs.Usage
	fs.Usage = func() {} // Parse would print it on stderr for -h too
	defer func() { fs.Usage = usage }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				usage()
				return nil, exitOK
			}
			usage()
			return nil, exitUsage
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != want {
		fmt.Fprintf(fs.Output(), "strata %s: want %d arguments, got %d\n", fs.Name(), want, len(pos))
		usage()
		return nil, exitUsage
	}
	return pos, -1
}

// openTries is how many times a read-only open is tried before a file
// removed under it fails the command.
const openTries = 20

// openDB opens the database in dir for command name, read-only or not,
// and reports why it could not: status is exitProblem for a corrupt
// database, exitUsage otherwise.
func openDB(name, dir string, readOnly bool, stderr io.Writer) (*db.DB, int) {
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		// Open would make a new database here: say what is missing.
		fmt.Fprintf(stderr, "strata: %s: %s is not a Strata database: %v\n", name, dir, err)
		return nil, exitUsage
	}
	d, err := db.Open(dir, &db.Options{ReadOnly: readOnly})
	for try := 1; readOnly && errors.Is(err, iofs.ErrNotExist) && try < openTries; try++ {
		// A writer beside us removed a file (a WAL it flushed, an SST
		// a merge replaced) between our reading the directory or the
		// manifest and opening the file: look again.
		time.Sleep(time.Duration(try) * 5 * time.Millisecond)
		d, err = db.Open(dir, &db.Options{ReadOnly: readOnly})
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata: %s: %v\n", name, err)
		switch {
		case errors.Is(err, db.ErrCorruption):
			return nil, exitProblem
		case errors.Is(err, db.ErrLocked):
			fmt.Fprintf(stderr, "strata: %s: another process has the database open; the read-only commands (get, scan, stats, check --read-only) work beside it\n", name)
		}
		return nil, exitUsage
	}
	return d, exitOK
}

// failed reports err, met by command name, and returns its exit status:
// exitProblem for corruption, exitUsage for anything else.
func failed(name string, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "strata: %s: %v\n", name, err)
	if errors.Is(err, db.ErrCorruption) {
		return exitProblem
	}
	return exitUsage
}
