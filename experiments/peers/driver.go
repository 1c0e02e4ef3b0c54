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

// driver runs series of workers and writes their reports.
type driver struct {
	cfg    *config
	parent string // the directory that holds the workers' databases
	self   string // this executable, which the workers run
	mach   machine
	stderr io.Writer
}

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
	d := &driver{cfg: cfg, parent: parent, self: self, mach: describeMachine(parent), stderr: stderr}
	fmt.Fprintf(stderr, "peers: engines %v, %d reps, data in %s (%s), load average %s\n",
		cfg.engines, cfg.reps, parent, d.mach.Filesystem, d.mach.LoadStart)

	switch {
	case cfg.sweep:
		return d.sweep()
	case cfg.workload == "ycsb":
		s, err := d.series(cfg, "", ycsbPhases)
		if err != nil {
			return err
		}
		s.command = fmt.Sprintf("go run . -workload ycsb -ycsb-records %d -ycsb-ops %d -reps %d -out %s",
			cfg.ycsbRecords, cfg.ycsbOps, cfg.reps, cfg.out)
		s.title = fmt.Sprintf("YCSB core workloads, %d records, %d operations each, median of %d rep(s)",
			cfg.ycsbRecords, cfg.ycsbOps, cfg.reps)
		return d.write(s, cfg.out, []output{{"ycsb.csv", writeYCSBCSV}, {"ycsb.md", writeYCSBMarkdown}, {"ycsb.png", writeChart}})
	}
	s, err := d.series(cfg, "", phases)
	if err != nil {
		return err
	}
	s.command = fmt.Sprintf("go run . -n %d -value-size %d -value-random %g%s -reps %d -out %s",
		cfg.n, cfg.valueSize, cfg.valueRandom, cfg.phaseFlags(), cfg.reps, cfg.out)
	s.title = seriesTitle(cfg)
	return d.write(s, cfg.out, peersOutputs())
}

// output is one file a report consists of.
type output struct {
	name string
	fn   func(*summary, string) error
}

// peersOutputs are the files of a db_bench-style series.
func peersOutputs() []output {
	return []output{{"peers.csv", writeCSV}, {"peers.md", writeMarkdown}, {"peers.png", writeChart}}
}

// seriesTitle heads the chart of a db_bench-style series.
func seriesTitle(c *config) string {
	return fmt.Sprintf("db_bench-style workloads, N = %d, %s values (%g random), median of %d rep(s)",
		c.n, sizeName(c.valueSize), c.valueRandom, c.reps)
}

// series runs c.reps repetitions of every engine with the settings of c,
// in databases under label in the parent directory, and summarizes them
// with phases in the order given.
func (d *driver) series(c *config, label string, order []string) (*summary, error) {
	start := time.Now()
	if label != "" {
		fmt.Fprintf(d.stderr, "peers: series %s: %d keys of %s values, %g random\n", label, c.n, sizeName(c.valueSize), c.valueRandom)
	}
	results := make(map[string][]workerResult)
	for rep := range c.reps {
		for j := range c.engines {
			// Round robin: each repetition starts one engine later.
			e := c.engines[(rep+j)%len(c.engines)]
			dir := filepath.Join(d.parent, label, fmt.Sprintf("%s-rep%d", e, rep))
			res, err := runOneWorker(d.self, c.workerArgs(e, rep, dir), d.stderr)
			if !c.keep {
				os.RemoveAll(dir)
			}
			if err != nil {
				return nil, fmt.Errorf("worker %s rep %d: %w", e, rep, err)
			}
			results[e] = append(results[e], res)
		}
	}
	s := summarize(c, results, order)
	s.machine = d.mach
	s.machine.LoadEnd = loadAvg()
	s.elapsed = time.Since(start)
	fmt.Fprintf(d.stderr, "peers: done in %s, load average %s\n", s.elapsed.Round(time.Second), s.machine.LoadEnd)
	return s, nil
}

// write writes the outputs of s into dir.
func (d *driver) write(s *summary, dir string, outs []output) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, o := range outs {
		path := filepath.Join(dir, o.name)
		if err := o.fn(s, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(d.stderr, "peers: wrote %s\n", path)
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
