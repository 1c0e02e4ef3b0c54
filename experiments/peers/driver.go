package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// workerEnv marks a re-executed process as a worker, for the test binary,
// whose own flags would not accept -worker (see TestMain).
const workerEnv = "PEERS_WORKER"

const tmpfsMagic = 0x01021994

func runDriver(cfg *config, stderr io.Writer) error {
	parent := cfg.dir
	if parent == "" {
		var err error
		if parent, err = os.MkdirTemp("", "strata-peers-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if !cfg.keep && cfg.dir == "" {
		defer os.RemoveAll(parent)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(parent, &st); err != nil {
		return err
	}
	if st.Type == tmpfsMagic {
		return fmt.Errorf("data directory %s is on tmpfs: pass -dir on a real disk", parent)
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	mach := describeMachine(parent)
	fmt.Fprintf(stderr, "peers: %d keys, %d reps, engines %v, data in %s (%s), load average %s\n",
		cfg.n, cfg.reps, cfg.engines, parent, mach.Filesystem, mach.LoadStart)

	start := time.Now()
	results := make(map[string][]workerResult)
	for rep := range cfg.reps {
		for j := range cfg.engines {
			// Round robin: each repetition starts one engine later.
			e := cfg.engines[(rep+j)%len(cfg.engines)]
			dir := filepath.Join(parent, fmt.Sprintf("%s-rep%d", e, rep))
			res, err := runOneWorker(self, cfg.workerArgs(e, rep, dir), stderr)
			if !cfg.keep {
				os.RemoveAll(dir)
			}
			if err != nil {
				return fmt.Errorf("worker %s rep %d: %w", e, rep, err)
			}
			results[e] = append(results[e], res)
		}
	}
	mach.LoadEnd = loadAvg()
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "peers: done in %s, load average %s\n", elapsed.Round(time.Second), mach.LoadEnd)

	s := summarize(cfg, results)
	s.machine = mach
	s.elapsed = elapsed
	for _, write := range []struct {
		name string
		fn   func(*summary, string) error
	}{{"peers.csv", writeCSV}, {"peers.md", writeMarkdown}, {"peers.png", writeChart}} {
		path := filepath.Join(cfg.out, write.name)
		if err := write.fn(s, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(stderr, "peers: wrote %s\n", path)
	}
	return nil
}

// runOneWorker re-executes this binary as a worker and decodes its line.
func runOneWorker(self string, args []string, stderr io.Writer) (workerResult, error) {
	var res workerResult
	var out bytes.Buffer
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return res, err
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("decoding the worker's output %q: %w", out.String(), err)
	}
	// The kernel's peak RSS of the child, which must agree with the
	// worker's VmHWM; keep the larger.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.PeakRSS = max(res.PeakRSS, ru.Maxrss<<10)
	}
	return res, nil
}
