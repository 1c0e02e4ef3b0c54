package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// ioCounters is /proc/self/io: what the process read and wrote. writeBytes
// counts the bytes the process caused to be sent to storage (charged when a
// page is dirtied), cancelled the dirty bytes it truncated or deleted
// before they were written back, wchar the bytes passed to write calls.
type ioCounters struct {
	WChar     int64 `json:"wchar"`
	Write     int64 `json:"write_bytes"`
	Cancelled int64 `json:"cancelled_write_bytes"`
	Read      int64 `json:"read_bytes"`
}

func readIO() (ioCounters, error) {
	var c ioCounters
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return c, fmt.Errorf("/proc/self/io: %s: %w", name, err)
		}
		switch name {
		case "wchar":
			c.WChar = v
		case "write_bytes":
			c.Write = v
		case "cancelled_write_bytes":
			c.Cancelled = v
		case "read_bytes":
			c.Read = v
		}
	}
	return c, sc.Err()
}

func (c ioCounters) sub(o ioCounters) ioCounters {
	return ioCounters{c.WChar - o.WChar, c.Write - o.Write, c.Cancelled - o.Cancelled, c.Read - o.Read}
}

// peakRSS returns VmHWM from /proc/self/status in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no VmHWM")
}

// diskUsage returns the bytes allocated on disk (as du counts them) and the
// apparent size (sum of file lengths) of the files under dir, and the
// allocated bytes per file extension.
func diskUsage(dir string) (allocated, apparent int64, byExt map[string]int64, err error) {
	byExt = make(map[string]int64)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
			ext := filepath.Ext(path)
			if ext == "" || strings.ContainsAny(ext[1:], "0123456789") && strings.Trim(ext[1:], "0123456789") == "" {
				ext = "(none)"
			}
			byExt[ext] += st.Blocks * 512
		}
		return nil
	})
	return allocated, apparent, byExt, err
}

// machine describes where the run happened.
type machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemTotal   string `json:"mem_total"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	DataDir    string `json:"data_dir"`
	Filesystem string `json:"filesystem"`
	Device     string `json:"device"`
	MountOpts  string `json:"mount_opts"`
	Source     string `json:"strata_source"`
	LoadStart  string `json:"load_start"`
	LoadEnd    string `json:"load_end"`
}

func describeMachine(dataDir string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), DataDir: dataDir}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Filesystem, m.Device, m.MountOpts = mountOf(dataDir)
	m.Source = strataSource()
	m.LoadStart = loadAvg()
	return m
}

// strataSource names the commit of the working tree the binary was built
// from (go run builds from the tree as it is, committed or not) and how many
// tracked files differed from it, with read-only git commands.
func strataSource() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (no git)"
	}
	src := "commit " + strings.TrimSpace(string(head))
	st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil {
		if n := len(strings.Split(strings.TrimSpace(string(st)), "\n")); len(st) > 0 {
			src += fmt.Sprintf(" with %d modified tracked file(s) in the tree", n)
		} else {
			src += ", clean tree"
		}
	}
	return src
}

// mountOf finds the longest mount point in /proc/mounts that holds dir.
func mountOf(dir string) (fstype, device, opts string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "?", "?", ""
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?", "?", ""
	}
	best := -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		mp := f[1]
		if abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/") {
			if len(mp) > best {
				best, device, fstype, opts = len(mp), f[0], f[2], f[3]
			}
		}
	}
	return fstype, device, opts
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
