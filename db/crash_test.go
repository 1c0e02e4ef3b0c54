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
	"syscall"
	"testing"
	"time"
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
	d, err := Open(dir, crashOptions())
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.Stdout, 64)
	for i := start; ; i++ {
		if i%5 == 4 {
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
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[int]bool{} // key -> present (true) or deleted (false)
	next := 0               // first operation of the next child
	for round := 0; round < 6; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), "STRATA_CRASH_DIR="+dir, fmt.Sprintf("STRATA_CRASH_START=%d", next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := time.Duration(100+rng.Intn(400)) * time.Millisecond
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
		// may or may not have happened. Its key is not checked again (keys
		// are written once), and the next child starts after it.
		inflight := lastOp + 1
		if inflight%5 == 4 {
			delete(acked, inflight-3)
		}
		next = inflight + 1

		d, err := Open(dir, crashOptions())
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for k, present := range acked {
			v, err := d.Get(crashKey(k))
			if present {
				if err != nil || string(v) != string(crashValue(k)) {
					t.Fatalf("round %d: acknowledged key %d lost: %v", round, k, err)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: deleted key %d resurrected (err %v)", round, k, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %v, %d keys acknowledged so far", round, killAfter, len(acked))
	}
}
