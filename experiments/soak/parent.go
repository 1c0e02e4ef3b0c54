package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// config is the parent's configuration (the command line, or a test).
type config struct {
	duration         time.Duration
	dir              string // "" = a new temporary directory
	keep             bool
	seed             uint64
	verbose          bool
	keys, writers    int
	pageSize         int
	killMin, killMax time.Duration
	reportEvery      time.Duration
	out              io.Writer
	// exe runs a child: the binary itself, or the test binary.
	exe string
}

func (c config) validate() error {
	switch {
	case c.writers < 1:
		return fmt.Errorf("-writers %d: must be positive", c.writers)
	case c.keys <= 0 || c.keys > maxKeys || c.keys%(windowKeys*c.writers) != 0:
		return fmt.Errorf("-keys %d: must be a multiple of %d (100 per window times -writers) up to %d", c.keys, windowKeys*c.writers, maxKeys)
	case c.pageSize != 1024 && c.pageSize != 4096:
		return fmt.Errorf("-page-size %d: must be 1024 or 4096", c.pageSize)
	case c.killMin <= 0 || c.killMax < c.killMin:
		return fmt.Errorf("-kill-min %v, -kill-max %v: need 0 < min <= max", c.killMin, c.killMax)
	}
	return nil
}

// totals are the soak's counters.
type totals struct {
	ops                         uint64
	kills, cleanStops, restarts int
	losses, errors              int
	// acked counts acknowledged mutations by kind; inFlight the operations
	// without an ack at a kill, inFlightApplied those of them the reopened
	// database showed applied (the others showed not applied, or could not
	// tell: a delete of an absent key).
	acked                     map[string]uint64
	inFlight, inFlightApplied int
	elapsed                   time.Duration
}

func (t *totals) String() string {
	return fmt.Sprintf("%d ops, %d kills, %d clean stops, %d restarts, %d losses, %d errors in %v",
		t.ops, t.kills, t.cleanStops, t.restarts, t.losses, t.errors, t.elapsed.Round(time.Second))
}

// soak is the parent's state.
type soak struct {
	cfg    config
	root   string // working directory: db/, model, ops-NNNNNN.log
	dbDir  string
	oracle []uint64 // the state every key must have, as of the last check
	nextOp uint64
	rng    *rand.Rand
	t      totals
	failed bool // keep the directory for a post-mortem
	stop   chan os.Signal
}

// runSoak runs the soak for cfg.duration and returns its counters. The
// error is for a soak that could not go on (setup, or a database that no
// longer opens); losses and errors are in the counters.
func runSoak(cfg config) (*totals, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &soak{cfg: cfg, oracle: make([]uint64, cfg.keys), nextOp: 1,
		rng: rand.New(rand.NewPCG(cfg.seed, 0x50a6)), t: totals{acked: map[string]uint64{}}}
	created := false
	if s.root = cfg.dir; s.root == "" {
		var err error
		if s.root, err = os.MkdirTemp("", "strata-soak-"); err != nil {
			return nil, err
		}
		created = true
	} else if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, err
	}
	s.dbDir = filepath.Join(s.root, "db")
	if _, err := os.Stat(s.dbDir); err == nil {
		return nil, fmt.Errorf("%s already holds a database whose expected state is unknown: remove it or pick another -dir", s.dbDir)
	}
	s.stop = make(chan os.Signal, 1)
	signal.Notify(s.stop, os.Interrupt)
	defer signal.Stop(s.stop)

	fmt.Fprintf(cfg.out, "soak: seed %d, %d keys, %d writers, page size %d, kills after %v to %v, for %v in %s\n",
		cfg.seed, cfg.keys, cfg.writers, cfg.pageSize, cfg.killMin, cfg.killMax, cfg.duration, s.root)
	start := time.Now()
	lastReport := start
	var runErr error
	for run := 1; run == 1 || time.Since(start) < cfg.duration; run++ {
		if runErr = s.run(run, cfg.duration-time.Since(start)); runErr != nil {
			s.t.errors++
			s.failed = true
			break
		}
		if len(s.stop) > 0 {
			fmt.Fprintf(cfg.out, "soak: interrupted\n")
			break
		}
		if time.Since(lastReport) >= cfg.reportEvery {
			lastReport = time.Now()
			s.t.elapsed = time.Since(start)
			fmt.Fprintf(cfg.out, "soak: %s\n", &s.t)
		}
	}
	s.t.elapsed = time.Since(start)
	if s.t.losses > 0 || s.t.errors > 0 {
		s.failed = true
	}
	var kinds []string
	for _, k := range []string{"put", "del", "batch", "range"} {
		kinds = append(kinds, fmt.Sprintf("%d %s", s.t.acked[k], k))
	}
	fmt.Fprintf(cfg.out, "soak: acknowledged writes %s; in flight at kills %d (%d applied)\n",
		strings.Join(kinds, ", "), s.t.inFlight, s.t.inFlightApplied)
	switch {
	case cfg.keep || s.failed:
		fmt.Fprintf(cfg.out, "soak: kept %s\n", s.root)
	case created:
		os.RemoveAll(s.root)
	default:
		os.RemoveAll(s.dbDir)
		os.Remove(filepath.Join(s.root, "model"))
	}
	return &s.t, runErr
}

// errorf reports an unexpected error.
func (s *soak) errorf(format string, args ...any) {
	s.t.errors++
	fmt.Fprintf(s.cfg.out, "soak: ERROR: "+format+"\n", args...)
}

// childRun collects what a child printed.
type childRun struct {
	mu       sync.Mutex
	ops      uint64
	reported []string // "soak-error: " lines
	tail     []string // the last other stderr lines
}

// run starts child run, stops it (SIGKILL after a random delay, or one
// time in ten SIGTERM for a clean Close) and checks the database. left is
// the soak's remaining time; the last run is cut short to fit it.
func (s *soak) run(run int, left time.Duration) error {
	modelPath := filepath.Join(s.root, "model")
	if err := writeModel(modelPath, s.oracle); err != nil {
		return err
	}
	cc := childConfig{
		dbDir: s.dbDir, logPath: filepath.Join(s.root, fmt.Sprintf("ops-%06d.log", run)), modelPath: modelPath,
		seed: s.rng.Uint64(), opBase: s.nextOp, keys: s.cfg.keys, writers: s.cfg.writers, pageSize: s.cfg.pageSize,
		// A kill loses nothing either way; alternating covers both paths.
		sync:        run%2 == 1,
		compression: [...]string{"snappy", "snappy", "none", "none"}[run%4],
	}
	os.Remove(cc.logPath)
	delay := s.cfg.killMin + time.Duration(s.rng.Int64N(int64(s.cfg.killMax-s.cfg.killMin)+1))
	if s.rng.IntN(4) == 0 {
		// A quarter of the kills land in the first fifth of the range: in
		// Open's recovery, or soon after.
		delay = s.cfg.killMin + (delay-s.cfg.killMin)/5
	}
	delay = max(min(delay, left), s.cfg.killMin)
	clean := s.rng.IntN(10) == 0

	cr := &childRun{}
	cmd := exec.Command(s.cfg.exe, cc.args()...)
	stdin, keepAlive, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdin = stdin
	cmd.Stdout = &lineWriter{line: func(l string) {
		if n, ok := strings.CutPrefix(l, "soak-progress "); ok {
			if v, err := strconv.ParseUint(n, 10, 64); err == nil {
				cr.ops = v
			}
		}
	}, mu: &cr.mu}
	cmd.Stderr = &lineWriter{line: func(l string) {
		if msg, ok := strings.CutPrefix(l, "soak-error: "); ok {
			cr.reported = append(cr.reported, msg)
			return
		}
		if cr.tail = append(cr.tail, l); len(cr.tail) > 40 {
			cr.tail = cr.tail[1:]
		}
	}, mu: &cr.mu}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		stdin.Close()
		keepAlive.Close()
		return err
	}
	stdin.Close()
	defer keepAlive.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	how := "killed"
	select {
	case <-time.After(delay):
	case <-s.stop:
		s.stop <- os.Interrupt // seen again by the loop
		clean = false
	case <-done:
		done <- nil
		how = "exited by itself"
	}
	if how == "killed" {
		if clean {
			how = "stopped"
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
				done <- nil
			case <-time.After(time.Minute):
				s.errorf("run %d: child still running a minute after SIGTERM (a hung Close?); killing it", run)
				cmd.Process.Kill()
			}
		} else {
			cmd.Process.Kill()
		}
	}
	<-done
	lived := time.Since(t0)
	// The pipes are drained once Wait returns.
	errorsBefore := s.t.errors
	for _, msg := range cr.reported {
		s.errorf("run %d: child: %s", run, msg)
	}
	st := cmd.ProcessState
	status := st.Sys().(syscall.WaitStatus)
	switch {
	case how == "killed" && status.Signaled() && status.Signal() == syscall.SIGKILL:
		s.t.kills++
	case how == "stopped" && st.Success():
		s.t.cleanStops++
	case how == "stopped" && status.Signaled() && status.Signal() == syscall.SIGTERM:
		// The signal came before the child had set up its handler (it
		// does so first thing, but the runtime starts before main): the
		// default action ended it, as a SIGKILL would have.
		s.t.kills++
	default:
		if len(cr.reported) == 0 {
			s.errorf("run %d: child %s after %v: %v; its last lines:\n\t%s", run, how, lived.Round(time.Millisecond), st, strings.Join(cr.tail, "\n\t"))
		}
		if how == "stopped" && status.Signaled() {
			s.t.kills++ // the SIGTERM timed out
		}
	}

	t1 := time.Now()
	r, err := s.check(run, cc.logPath)
	if err != nil {
		return fmt.Errorf("run %d: %w", run, err)
	}
	s.t.restarts++
	// The progress line the child printed last may be up to 20 ms old; its
	// mutations are in the log.
	ops := max(cr.ops, uint64(r.acked+r.inFlight))
	s.t.ops += ops
	if r.losses == 0 && s.t.errors == errorsBefore {
		if !s.cfg.keep {
			os.Remove(cc.logPath)
		}
	} else {
		s.failed = true
		fmt.Fprintf(s.cfg.out, "soak: run %d: %d losses, %d errors; op log kept: %s\n", run, r.losses, s.t.errors-errorsBefore, cc.logPath)
	}
	if s.cfg.verbose {
		fmt.Fprintf(s.cfg.out, "soak: run %d %s after %v (sync %v, %s): %d ops, %d writes acked, %d in flight (%d applied); %s; checked in %v\n",
			run, how, lived.Round(time.Millisecond), cc.sync, cc.compression, ops, r.acked, r.inFlight, r.applied,
			r.recovery, time.Since(t1).Round(time.Millisecond))
	}
	return nil
}

// lineWriter calls line for each line written to it, under mu.
type lineWriter struct {
	mu   *sync.Mutex
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// checkResult is what one check found.
type checkResult struct {
	acked             int
	inFlight, applied int
	losses            int
	recovery          string
}

// keyCheck is what the Get of one key found: whether it matched the state
// without the in-flight operation touching it (m0) and with it (m1; equal
// to m0 for keys no in-flight operation touches), and what it was when it
// matched neither.
type keyCheck struct {
	m0, m1 bool
	got    string
}

// check rebuilds the expected state from the oracle and the run's op log,
// opens the database, compares every key and two full scans (forward and
// backward) with it, repairs what is wrong so that the next run starts
// from a known state, and closes it.
//
// An operation without an ack was in flight: the database may show it
// applied or not, but all of it or nothing. Each writer has at most one
// such operation, and writers own disjoint keys, so the operations in
// flight touch disjoint keys and are decided one by one: applied if more
// of its keys show the "with" state than the "without" state. Keys that
// show the other one, or neither, are losses.
func (s *soak) check(run int, logPath string) (*checkResult, error) {
	n := s.cfg.keys
	lg, err := readOpLog(logPath, n)
	if err != nil {
		return nil, err
	}
	s.nextOp = max(s.nextOp, lg.maxOp+1)
	res := &checkResult{}
	base := append([]uint64(nil), s.oracle...)
	var inFlight []*intent
	lastOfWriter := map[int]*intent{}
	for _, in := range lg.intents {
		if prev := lastOfWriter[in.writer]; prev != nil && !lg.acked[prev.op] {
			return nil, fmt.Errorf("%s: writer %d issued op %d while op %d had no ack", logPath, in.writer, in.op, prev.op)
		}
		lastOfWriter[in.writer] = in
		if lg.acked[in.op] {
			in.apply(base)
			res.acked++
			s.t.acked[in.kind]++
		} else {
			inFlight = append(inFlight, in)
		}
	}
	// with[i] is key i's state if the in-flight op owner[i] was applied.
	owner := make([]int, n)
	for i := range owner {
		owner[i] = -1
	}
	with := append([]uint64(nil), base...)
	effects := make([]map[int]uint64, len(inFlight))
	for u, in := range inFlight {
		effects[u] = in.effects()
		for i, after := range effects[u] {
			if owner[i] >= 0 {
				return nil, fmt.Errorf("%s: ops %d and %d, both in flight, touch key %d", logPath, inFlight[owner[i]].op, in.op, i)
			}
			owner[i], with[i] = u, after
		}
	}

	d, err := db.Open(s.dbDir, dbOptions(s.cfg.pageSize, false, "snappy"))
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	watchdog := time.AfterFunc(5*time.Minute, func() {
		fmt.Fprintf(os.Stderr, "soak: run %d: the check of the reopened database has taken five minutes; goroutines:\n", run)
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		os.Exit(1)
	})
	defer watchdog.Stop()
	rec := d.Metrics().Recovery
	res.recovery = fmt.Sprintf("recovery %d WALs, %d records, %d bytes dropped", rec.WALs, rec.Records, rec.DroppedBytes)
	if rec.Damage != "" {
		res.recovery += " (" + rec.Damage + ")"
	}
	if err := checkDB(d); err != nil {
		s.errorf("run %d: check of the reopened database: %v", run, err)
	}

	keys := make([]keyCheck, n)
	for i := range keys {
		got, err := d.Get(keyOf(i))
		k := &keys[i]
		k.m0 = matches(i, base[i], got, err)
		k.m1 = k.m0
		if owner[i] >= 0 && with[i] != base[i] {
			k.m1 = matches(i, with[i], got, err)
		}
		if !k.m0 || !k.m1 {
			k.got = observed(got, err)
		}
	}
	resolved := append([]uint64(nil), base...)
	for u, in := range inFlight {
		var yes, no int
		for i, after := range effects[u] {
			if after == base[i] {
				continue // the same either way: a delete of an absent key
			}
			switch k := keys[i]; {
			case k.m1 && !k.m0:
				yes++
			case k.m0 && !k.m1:
				no++
			}
		}
		res.inFlight++
		if yes > 0 && no > 0 {
			fmt.Fprintf(s.cfg.out, "soak: run %d: LOSS: op %d (%s %v), in flight, is half applied: %d keys show it, %d do not\n", run, in.op, in.kind, in.writes, yes, no)
		}
		if yes > no {
			res.applied++
			for i, after := range effects[u] {
				resolved[i] = after
			}
		}
	}
	s.t.inFlight += res.inFlight
	s.t.inFlightApplied += res.applied

	// lost holds the keys to repair, with what was wrong; foreign the keys
	// found that the soak never wrote.
	lost := map[int]string{}
	var foreign [][]byte
	for i, k := range keys {
		ok := k.m0
		if resolved[i] != base[i] {
			ok = k.m1
		}
		if !ok {
			lost[i] = fmt.Sprintf("Get: %s, want %s", k.got, describeVersion(resolved[i]))
		}
	}
	scanLost := map[int]string{}
	scansDone := true
	for _, reverse := range []bool{false, true} {
		f, err := scanCheck(d, view{lo: 0, vers: resolved, n: n}, reverse, scanLost)
		if err != nil {
			s.errorf("run %d: full scan (backward %v): %v", run, reverse, err)
			scansDone = false
		}
		if !reverse {
			foreign = f
		}
	}
	for i, why := range scanLost {
		if _, ok := lost[i]; ok {
			lost[i] += "; " + why
		} else {
			lost[i] = why
		}
	}
	for i := range lost {
		if _, ok := scanLost[i]; !ok && scansDone {
			// The data is there: the point lookup went wrong.
			lost[i] += "; both full scans found it right"
		}
	}
	res.losses = len(lost) + len(foreign)
	s.t.losses += res.losses
	shown := 0
	for i, why := range lost {
		if shown++; shown <= 20 {
			fmt.Fprintf(s.cfg.out, "soak: run %d: LOSS: key %d %q: %s\n", run, i, keyOf(i), why)
		}
	}
	for _, k := range foreign {
		if shown++; shown <= 20 {
			fmt.Fprintf(s.cfg.out, "soak: run %d: LOSS: the scan found %q, a key the soak never wrote\n", run, k)
		}
	}

	// Repair, so that one loss is counted once.
	for i := range lost {
		if resolved[i] == 0 {
			err = d.Delete(keyOf(i))
		} else {
			err = d.Put(keyOf(i), valueFor(i, resolved[i]))
		}
		if err != nil {
			return nil, fmt.Errorf("repair key %d: %w", i, err)
		}
	}
	for _, k := range foreign {
		if err := d.Delete(k); err != nil {
			return nil, fmt.Errorf("repair: delete %q: %w", k, err)
		}
	}
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("close after the check: %w", err)
	}
	s.oracle = resolved
	return res, nil
}

// scanCheck walks the whole database forward or backward and compares it
// with v, adding to lost each key that is missing, unexpected, out of
// order or wrong (with the first reason found). It returns the keys found that are not keys of the soak.
func scanCheck(d *db.DB, v view, reverse bool, lost map[int]string) ([][]byte, error) {
	dir := "forward"
	it := d.NewIter(nil)
	move := it.Next
	following := func(p int) int { return v.next(p + 1) }
	ok, pos := it.First(), v.next(v.lo)
	if reverse {
		dir = "backward"
		move = it.Prev
		following = v.prev
		ok, pos = it.Last(), v.prev(v.hi())
	}
	// before reports whether key a comes before key b in the scan's order.
	before := func(a, b int) bool {
		if reverse {
			return a > b
		}
		return a < b
	}
	inRange := func(p int) bool { return p >= v.lo && p < v.hi() }
	note := func(i int, why string) {
		if _, seen := lost[i]; !seen {
			lost[i] = dir + " scan: " + why
		}
	}
	var foreign [][]byte
	last := -1
	for ; ok; ok = move() {
		i, isKey := keyIndex(it.Key())
		if !isKey {
			foreign = append(foreign, append([]byte(nil), it.Key()...))
			continue
		}
		if last >= 0 && !before(last, i) {
			note(i, fmt.Sprintf("found after key %d: out of order", last))
		}
		last = i
		for inRange(pos) && before(pos, i) {
			note(pos, fmt.Sprintf("missing (want %s)", describeVersion(v.at(pos))))
			pos = following(pos)
		}
		if pos != i {
			note(i, fmt.Sprintf("found %s, want absent", describe(it.Value())))
			continue
		}
		if !bytes.Equal(it.Value(), valueFor(i, v.at(i))) {
			note(i, fmt.Sprintf("found %s, want %s", describe(it.Value()), describeVersion(v.at(i))))
		}
		pos = following(pos)
	}
	// An iterator stopped by an error says nothing of the keys after it.
	err := it.Close()
	for ; err == nil && inRange(pos); pos = following(pos) {
		note(pos, fmt.Sprintf("missing at the end (want %s)", describeVersion(v.at(pos))))
	}
	return foreign, err
}
