package db

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// crashValue is the value the crash child writes for key i.
func crashValue(i int) []byte {
	n := (i * 7919) % 2000 // some values overflow a 1 KiB page
	return []byte(fmt.Sprintf("v%d:%s", i, strings.Repeat("x", n)))
}

func crashKey(i int) []byte { return []byte(fmt.Sprintf("k%08d", i)) }

func crashOptions() *Options {
	return &Options{MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20, SyncWrites: true, L0CompactionTrigger: 2, TargetFileSize: 64 << 10}
}

// TestCrashChild is the child process of TestCrashRecovery: it writes until
// killed, printing each acknowledged operation.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("STRATA_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	start, _ := strconv.Atoi(os.Getenv("STRATA_CRASH_START"))
	o := crashOptions()
	if os.Getenv("STRATA_CRASH_NOSYNC") != "" {
		o.SyncWrites = false
	}
	if os.Getenv("STRATA_CRASH_BEHIND") != "" {
		// Puts only, in key order, unsynced and written behind: see
		// TestCrashRecoveryWriteBehind.
		o.SyncWrites, o.WALWriteBehind = false, true
		d, err := Open(dir, o)
		if err != nil {
			fmt.Printf("open-error %v\n", err)
			os.Exit(2)
		}
		for i := start; ; i++ {
			if err := d.Put(crashKey(i), crashValue(i)); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(3)
			}
			fmt.Printf("put %d\n", i)
		}
	}
	if point := os.Getenv("STRATA_CRASH_POINT"); point != "" {
		// Die at the n-th time the step is reached.
		n, _ := strconv.Atoi(os.Getenv("STRATA_CRASH_NTH"))
		var mu sync.Mutex
		o.failpoint = func(name string) {
			mu.Lock()
			defer mu.Unlock()
			if name == point {
				if n--; n < 0 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				}
			}
		}
		if point == fpManifestFailed {
			// Tear the n-th manifest append after the first: half of the
			// record reaches the file, then the process dies.
			writes := 0
			o.FS = vfs.NewFaultFS(vfs.Default(), vfs.InjectorFunc(func(op vfs.Op, name string) error {
				if op == vfs.OpWrite && strings.Contains(name, "MANIFEST-") {
					mu.Lock()
					defer mu.Unlock()
					if writes++; writes == n+3 {
						n = 0
						return vfs.ErrShortWrite
					}
				}
				return nil
			}))
		}
	}
	d, err := Open(dir, o)
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.Stdout, 64)
	for i := start; ; i++ {
		if i%50 == 49 {
			// A range delete of keys written earlier.
			if err := d.DeleteRange(crashKey(i-40), crashKey(i-30)); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "delrange %d\n", i)
		} else if i%5 == 4 {
			// Delete an earlier key: it must stay deleted after a crash.
			if err := d.Delete(crashKey(i - 3)); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "del %d\n", i-3)
		} else {
			if err := d.Put(crashKey(i), crashValue(i)); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "put %d\n", i)
		}
		out.Flush()
	}
}

// TestCrashRecovery kills a writing child process with SIGKILL at random
// moments; every acknowledged write must be present after reopening, and no
// acknowledged delete may be undone.
func TestCrashRecovery(t *testing.T) {
	crashRounds(t, 6, func(int, *rand.Rand) []string { return nil })
}

// TestCrashRecoveryNoSync is TestCrashRecovery without SyncWrites: a write
// that returned has reached the kernel (through the WAL's shared mapping),
// so killing the process, unlike cutting the power, loses none of them.
func TestCrashRecoveryNoSync(t *testing.T) {
	crashRounds(t, 6, func(int, *rand.Rand) []string { return []string{"STRATA_CRASH_NOSYNC=1"} })
}

// TestCrashRecoveryWriteBehind kills a child writing with WALWriteBehind:
// acknowledged writes may be lost, but only the latest, so the keys found
// after recovery are a prefix of those written (no write survives one
// before it), and the writes of earlier children, closed by the parent's
// reopen, are all there.
func TestCrashRecoveryWriteBehind(t *testing.T) {
	exe, dir, rng := crashSetup(t)
	next, lost := 0, 0
	for round := 0; round < 6; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), "STRATA_CRASH_DIR="+dir, fmt.Sprintf("STRATA_CRASH_START=%d", next), "STRATA_CRASH_BEHIND=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(time.Duration(100+rng.Intn(400))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
		acked := next - 1
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "put %d", &n); err != nil || n != acked+1 {
				t.Fatalf("child: %q", sc.Text())
			}
			acked = n
		}
		timer.Stop()
		cmd.Wait()
		d, err := Open(dir, crashOptions())
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		found := 0
		for ; ; found++ {
			v, err := d.Get(crashKey(found))
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil || string(v) != string(crashValue(found)) {
				t.Fatalf("round %d: key %d: %v", round, found, err)
			}
		}
		if found < next {
			t.Fatalf("round %d: %d keys survive, but %d were recovered and closed before", round, found, next)
		}
		for k := found + 1; k <= acked+1; k++ {
			if _, err := d.Get(crashKey(k)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: key %d survives but key %d is lost (err %v)", round, k, found, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		lost += max(0, acked+1-found)
		t.Logf("round %d: %d keys acknowledged up to %d, %d survive", round, acked-next+1, acked, found)
		next = found
	}
	t.Logf("%d acknowledged writes lost in all", lost)
}

// TestCrashAtFailpoints kills the child at chosen steps: after a flushed SST
// is synced but before the manifest names it, after merge outputs are
// synced but before their edit, after an edit is durable but before
// obsolete files are deleted, and in the middle of a manifest append.
func TestCrashAtFailpoints(t *testing.T) {
	points := []string{fpFlushSynced, fpCompactSynced, fpManifestApplied, fpManifestFailed}
	crashRounds(t, 2*len(points), func(round int, rng *rand.Rand) []string {
		return []string{"STRATA_CRASH_POINT=" + points[round%len(points)], fmt.Sprintf("STRATA_CRASH_NTH=%d", rng.Intn(4))}
	})
}

// crashSetup skips a short test run, else returns the test binary (run
// as the child), a database directory and a seeded generator.
func crashSetup(t *testing.T) (exe, dir string, rng *rand.Rand) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, t.TempDir(), rand.New(rand.NewSource(time.Now().UnixNano()))
}

// crashRounds runs child processes that write until killed (by a timer, or
// by a failpoint given in env) and checks recovery after each.
func crashRounds(t *testing.T, rounds int, env func(round int, rng *rand.Rand) []string) {
	exe, dir, rng := crashSetup(t)
	acked := map[int]bool{} // key -> present (true) or deleted (false)
	next := 0               // first operation of the next child
	for round := 0; round < rounds; round++ {
		extra := env(round, rng)
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$")
		cmd.Env = append(append(os.Environ(), "STRATA_CRASH_DIR="+dir, fmt.Sprintf("STRATA_CRASH_START=%d", next)), extra...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := time.Duration(100+rng.Intn(400)) * time.Millisecond
		if len(extra) > 0 && strings.HasPrefix(extra[0], "STRATA_CRASH_POINT=") {
			killAfter = 20 * time.Second // the failpoint should kill it first
		}
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		lastOp := next - 1
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			n, err := 0, errors.New("short line")
			if len(f) == 2 {
				n, err = strconv.Atoi(f[1])
			}
			switch {
			case f[0] == "put" && err == nil:
				acked[n] = true
				lastOp = n
			case f[0] == "del" && err == nil:
				acked[n] = false
				lastOp = n + 3
			case f[0] == "delrange" && err == nil:
				for k := n - 40; k < n-30; k++ {
					if _, ok := acked[k]; ok {
						acked[k] = false
					}
				}
				lastOp = n
			default:
				t.Fatalf("child: %s", sc.Text())
			}
		}
		timer.Stop()
		werr := cmd.Wait()
		var exitErr *exec.ExitError
		if !errors.As(werr, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die by SIGKILL: %v", werr)
		}
		// The operation after the last acknowledged one was in flight: it
		// may or may not have happened. Keys it touches are not checked
		// again (keys are written once), and the next child starts after it.
		inflight := lastOp + 1
		switch {
		case inflight%50 == 49:
			for k := inflight - 40; k < inflight-30; k++ {
				delete(acked, k)
			}
		case inflight%5 == 4:
			delete(acked, inflight-3)
		}
		next = inflight + 1

		d, err := Open(dir, crashOptions())
		if err != nil {
			t.Fatalf("round %d (%v): reopen: %v", round, extra, err)
		}
		for k, present := range acked {
			v, err := d.Get(crashKey(k))
			if present {
				if err != nil || string(v) != string(crashValue(k)) {
					t.Fatalf("round %d (%v): acknowledged key %d lost: %v", round, extra, k, err)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d (%v): deleted key %d resurrected (err %v)", round, extra, k, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d %v: %d keys acknowledged so far", round, extra, len(acked))
	}
}
