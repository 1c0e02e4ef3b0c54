package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"

	"github.com/seed-d6fe07da/strata/db"
)

// readOnlyAbout says what a read-only command sees; the usage of get,
// scan and stats ends with it.
const readOnlyAbout = `
It opens the database read-only: it takes no lock and writes nothing, so
it works beside a process that has the database open, and sees the
database as of its start: the SSTs the manifest named then and every WAL
record written by then (synced or not; every acknowledged write), replayed
in memory. A record being appended at that instant is skipped as a torn
tail. When that process removes a file this one was about to read (an
SST a merge replaced, a WAL whose writes were flushed), the open is
tried again (and get as a whole); a scan that loses a file part way
fails with exit status 2.`

// codecAbout describes the key and value encodings.
const codecAbout = `
Keys and values are text (the argument's bytes). Output is text when the
bytes are non-empty valid UTF-8 of printable characters that does not
start with '"', and a Go string literal (strconv.Quote) otherwise. --hex
reads and prints hex; --quote reads Go string literals (the quotes may be
left out) and always prints them.`

const getAbout = `
Prints the value of KEY on a line. Exits 1, printing "not found" on
stderr, when the key has no value.` + "\n" + codecAbout + "\n" + readOnlyAbout

const putAbout = `
Sets KEY to VALUE and closes the database, which syncs the write. It needs
the database's lock: it fails (exit 2) while another process has the
database open.` + "\n" + codecAbout

const deleteAbout = `
Deletes KEY (whether or not it has a value) and closes the database,
which syncs the deletion. It needs the database's lock.` + "\n" + codecAbout

const scanAbout = `
Prints the keys in [--start, --end) in key order (descending with
--reverse), one per line: the key, a tab, the value (text output quotes
any key or value holding a tab or newline, so the tab separates them).` + "\n" + codecAbout + "\n" + readOnlyAbout

func runGet(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("get", stderr, getAbout)
	var c codec
	c.addFlags(fs)
	pos, status := parseArgs(fs, args, 2, stdout)
	if status >= 0 {
		return status
	}
	key, err := c.decode("key", pos[1])
	if err == nil {
		err = c.check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata get: %v\n", err)
		return exitUsage
	}
	var v []byte
	for try := 1; ; try++ {
		d, status := openDB("get", pos[0], true, stderr)
		if d == nil {
			return status
		}
		v, err = d.Get(key)
		d.Close()
		// An SST merged away after the open: open again, as openDB
		// does when the open itself meets a removed file.
		if !errors.Is(err, iofs.ErrNotExist) || try == openTries {
			break
		}
	}
	if errors.Is(err, db.ErrNotFound) {
		fmt.Fprintf(stderr, "strata: get: %s: not found\n", c.encode(key))
		return exitProblem
	}
	if err != nil {
		return failed("get", err, stderr)
	}
	fmt.Fprintln(stdout, c.encode(v))
	return exitOK
}

func runPut(args []string, stdout, stderr io.Writer) int {
	return write("put", putAbout, 3, args, stdout, stderr)
}

func runDelete(args []string, stdout, stderr io.Writer) int {
	return write("delete", deleteAbout, 2, args, stdout, stderr)
}

// write runs put (KEY VALUE) or delete (KEY).
func write(name, about string, want int, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(name, stderr, about)
	var c codec
	c.addFlags(fs)
	pos, status := parseArgs(fs, args, want, stdout)
	if status >= 0 {
		return status
	}
	err := c.check()
	var key, value []byte
	if err == nil {
		key, err = c.decode("key", pos[1])
	}
	if err == nil && name == "put" {
		value, err = c.decode("value", pos[2])
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata %s: %v\n", name, err)
		return exitUsage
	}
	d, status := openDB(name, pos[0], false, stderr)
	if d == nil {
		return status
	}
	if name == "put" {
		err = d.Put(key, value)
	} else {
		err = d.Delete(key)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failed(name, err, stderr)
	}
	return exitOK
}

func runScan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scan", stderr, scanAbout)
	var c codec
	c.addFlags(fs)
	start := fs.String("start", "", "first key (inclusive); default the first")
	end := fs.String("end", "", "key to stop before (exclusive); default past the last")
	limit := fs.Int("limit", 0, "print at most `N` keys (0: all)")
	reverse := fs.Bool("reverse", false, "print in descending key order")
	pos, status := parseArgs(fs, args, 1, stdout)
	if status >= 0 {
		return status
	}
	var lo, hi []byte
	err := c.check()
	if err == nil && *start != "" {
		lo, err = c.decode("--start", *start)
	}
	if err == nil && *end != "" {
		hi, err = c.decode("--end", *end)
	}
	if err == nil && *limit < 0 {
		err = fmt.Errorf("--limit %d is negative", *limit)
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata scan: %v\n", err)
		return exitUsage
	}
	d, status := openDB("scan", pos[0], true, stderr)
	if d == nil {
		return status
	}
	defer d.Close()
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	it := d.NewIter(&db.IterOptions{LowerBound: lo, UpperBound: hi})
	move := it.Next
	if *reverse {
		move = it.Prev
	}
	for n := 0; (*limit == 0 || n < *limit) && move(); n++ {
		fmt.Fprintf(out, "%s\t%s\n", c.encode(it.Key()), c.encode(it.Value()))
	}
	if err := it.Close(); err != nil {
		return failed("scan", err, stderr)
	}
	return exitOK
}
