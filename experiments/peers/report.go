package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stat is the median, min and max of one number over repetitions.
type stat struct {
	median, min, max float64
	n                int
}

func newStat(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{median: m, min: s[0], max: s[len(s)-1], n: len(s)}
}

// latStat is the median (and range) over repetitions of three
// percentiles of one phase's operation latencies, in microseconds.
type latStat struct {
	p50, p99, p999 stat
}

func newLatStat(ls []*latencySummary) latStat {
	var p50, p99, p999 []float64
	for _, l := range ls {
		p50, p99, p999 = append(p50, l.P50), append(p99, l.P99), append(p999, l.P999)
	}
	return latStat{newStat(p50), newStat(p99), newStat(p999)}
}

// engineSummary holds one engine's medians.
type engineSummary struct {
	ops, mbps map[string]stat
	// lat holds the latencies of the phases that time single operations;
	// byOp those of each YCSB operation type, by phase.
	lat             map[string]latStat
	byOp            map[string]map[string]latStat
	writeAmp        stat
	writeAmpSource  string
	fillseqWriteAmp stat
	netWriteAmp     stat
	wcharWriteAmp   stat
	spaceByExt      map[string]int64
	spaceAmp        stat
	spaceAmpFinal   stat
	spaceBytes      stat
	liveBytes       int64
	peakRSS         stat
	reopenMs        stat
	settings        string
}

// summary is one series of runs (every engine, every repetition, one
// configuration) reduced to medians.
type summary struct {
	cfg     *config
	engines []string
	phases  []string
	by      map[string]*engineSummary
	machine machine
	elapsed time.Duration
	// command is the command line that produced the series; title heads
	// its chart.
	command string
	title   string
}

// summarize takes the medians of results; order lists the phases in the
// order the reports show them.
func summarize(cfg *config, results map[string][]workerResult, order []string) *summary {
	s := &summary{cfg: cfg, engines: cfg.engines, by: make(map[string]*engineSummary)}
	seen := make(map[string]bool)
	for _, e := range cfg.engines {
		ops := make(map[string][]float64)
		mbps := make(map[string][]float64)
		lat := make(map[string][]*latencySummary)
		byOp := make(map[string]map[string][]*latencySummary)
		var wa, fwa, nwa, cwa, sa, saf, sb, rss, ro []float64
		es := &engineSummary{ops: make(map[string]stat), mbps: make(map[string]stat),
			lat: make(map[string]latStat), byOp: make(map[string]map[string]latStat)}
		for _, r := range results[e] {
			for _, p := range r.Phases {
				ops[p.Name] = append(ops[p.Name], p.OpsPerSec)
				mbps[p.Name] = append(mbps[p.Name], p.MBPerSec)
				if p.Latency != nil {
					lat[p.Name] = append(lat[p.Name], p.Latency)
				}
				for op, l := range p.ByOp {
					if byOp[p.Name] == nil {
						byOp[p.Name] = make(map[string][]*latencySummary)
					}
					byOp[p.Name][op] = append(byOp[p.Name][op], l)
				}
				seen[p.Name] = true
			}
			wa = append(wa, r.WriteAmp)
			fwa = append(fwa, r.FillseqWriteAmp)
			nwa = append(nwa, r.NetWriteAmp)
			cwa = append(cwa, r.WcharWriteAmp)
			sa = append(sa, r.SpaceAmp)
			saf = append(saf, r.SpaceAmpFinal)
			sb = append(sb, float64(r.SpaceBytes))
			rss = append(rss, float64(r.PeakRSS))
			ro = append(ro, r.ReopenMs)
			es.writeAmpSource = r.WriteAmpSource
			es.liveBytes = r.LiveBytes
			es.settings = r.Settings
			if es.spaceByExt == nil {
				es.spaceByExt = r.SpaceByExt // the first repetition's
			}
		}
		for name, xs := range ops {
			es.ops[name] = newStat(xs)
			es.mbps[name] = newStat(mbps[name])
		}
		for name, ls := range lat {
			es.lat[name] = newLatStat(ls)
		}
		for name, m := range byOp {
			es.byOp[name] = make(map[string]latStat)
			for op, ls := range m {
				es.byOp[name][op] = newLatStat(ls)
			}
		}
		es.writeAmp, es.fillseqWriteAmp = newStat(wa), newStat(fwa)
		es.netWriteAmp, es.wcharWriteAmp = newStat(nwa), newStat(cwa)
		es.spaceAmp, es.spaceBytes, es.spaceAmpFinal = newStat(sa), newStat(sb), newStat(saf)
		es.peakRSS, es.reopenMs = newStat(rss), newStat(ro)
		s.by[e] = es
	}
	for _, p := range order {
		if seen[p] {
			s.phases = append(s.phases, p)
		}
	}
	return s
}

// peersCSVHeader names the columns of peersCSVRows.
func peersCSVHeader() []string {
	return []string{"engine", "workload", "reps", "n",
		"ops_per_sec", "ops_per_sec_min", "ops_per_sec_max", "mb_per_sec",
		"write_amp", "write_amp_source", "net_write_amp", "wchar_write_amp", "fillseq_write_amp", "space_amp", "space_bytes", "live_bytes", "space_amp_final",
		"peak_rss_mib", "reopen_ms",
		"value_size", "value_random", "p50_us", "p99_us", "p999_us"}
}

// peersCSVRows is one row per engine and phase. The amplification,
// memory and reopen columns belong to the engine's whole run and repeat
// on each of its rows; the latency columns are empty for the scans.
func peersCSVRows(s *summary) [][]string {
	var rows [][]string
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for _, e := range s.engines {
		es := s.by[e]
		for _, p := range s.phases {
			o := es.ops[p]
			p50, p99, p999 := "", "", ""
			if l, ok := es.lat[p]; ok {
				p50, p99, p999 = g(l.p50.median), g(l.p99.median), g(l.p999.median)
			}
			rows = append(rows, []string{e, p, strconv.Itoa(o.n), strconv.Itoa(s.cfg.n),
				fmt.Sprintf("%.0f", o.median), fmt.Sprintf("%.0f", o.min), fmt.Sprintf("%.0f", o.max),
				fmt.Sprintf("%.2f", es.mbps[p].median),
				g(es.writeAmp.median), es.writeAmpSource, g(es.netWriteAmp.median), g(es.wcharWriteAmp.median),
				g(es.fillseqWriteAmp.median),
				g(es.spaceAmp.median), fmt.Sprintf("%.0f", es.spaceBytes.median), strconv.FormatInt(es.liveBytes, 10), g(es.spaceAmpFinal.median),
				fmt.Sprintf("%.1f", es.peakRSS.median/(1<<20)), fmt.Sprintf("%.1f", es.reopenMs.median),
				strconv.Itoa(s.cfg.valueSize), g(s.cfg.valueRandom), p50, p99, p999})
		}
	}
	return rows
}

func writeCSV(s *summary, path string) error {
	return writeCSVFile(path, peersCSVHeader(), peersCSVRows(s))
}

// writeCSVFile writes a header and rows to path.
func writeCSVFile(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peers returns the engines other than strata.
func (s *summary) peers() []string {
	var out []string
	for _, e := range s.engines {
		if e != "strata" {
			out = append(out, e)
		}
	}
	return out
}

// ratioToBest is strata's value over the best peer's: the largest when
// higher is better, the smallest otherwise.
func (s *summary) ratioToBest(get func(*engineSummary) float64, higherBetter bool) string {
	st, ok := s.by["strata"]
	if !ok {
		return "—"
	}
	best, name := 0.0, ""
	for _, e := range s.peers() {
		v := get(s.by[e])
		if v <= 0 {
			continue
		}
		if name == "" || (higherBetter && v > best) || (!higherBetter && v < best) {
			best, name = v, e
		}
	}
	if name == "" || best == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f (%s)", get(st)/best, name)
}

func writeMarkdown(s *summary, path string) error {
	var b strings.Builder
	m := s.machine
	c := s.cfg
	fmt.Fprintf(&b, "# Strata against its peers: db_bench-style workloads, %s values\n\n", sizeName(c.valueSize))
	fmt.Fprintf(&b, "Generated by `experiments/peers` (`cd experiments/peers && %s`). ", s.command)
	fmt.Fprintf(&b, "Every engine ran in its own process, %d repetition(s), engines in round-robin order; every number is the median over repetitions. ", c.reps)
	fmt.Fprintf(&b, "Total time %s.\n\n", s.elapsed.Round(time.Second))

	fmt.Fprintf(&b, "## Throughput (ops/s, median)\n\n")
	fmt.Fprintf(&b, "N = %d keys of 16 bytes, values of %d bytes with -value-random %g (the random fraction of each value; 1 = incompressible); fillsync1 and fillsync16 = %d synced puts each, from 1 and from %d goroutines; reads = %d gets per read phase; seeknext100 = %d seeks each followed by 100 Next; readseq and readseq-reopen count entries. ",
		c.n, c.valueSize, c.valueRandom, c.syncOps, syncWriters, c.reads, c.seeks)
	fmt.Fprintf(&b, "\"Strata / best peer\" divides Strata's number by the best of the others (named): for throughput the highest, so above 1 Strata is faster; for the amplification, memory and reopen rows the lowest, so above 1 Strata uses more.\n\n")
	header := append(append([]string{"workload"}, s.engines...), "Strata / best peer")
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, p := range s.phases {
		row := []string{p}
		for _, e := range s.engines {
			row = append(row, humanOps(s.by[e].ops[p].median))
		}
		row = append(row, s.ratioToBest(func(es *engineSummary) float64 { return es.ops[p].median }, true))
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	// metric adds a row where lower is better; ratio false leaves the
	// last column empty.
	metric := func(name string, get func(*engineSummary) float64, format string, ratio bool) {
		row := []string{name}
		for _, e := range s.engines {
			row = append(row, fmt.Sprintf(format, get(s.by[e])))
		}
		if ratio {
			row = append(row, s.ratioToBest(get, false))
		} else {
			row = append(row, "")
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	metric("**write-amp** (fillrandom → close)", func(es *engineSummary) float64 { return es.writeAmp.median }, "%.2f", true)
	metric("write-amp, net of cancelled writes", func(es *engineSummary) float64 { return es.netWriteAmp.median }, "%.2f", true)
	metric("write-amp, wchar (write calls)", func(es *engineSummary) float64 { return es.wcharWriteAmp.median }, "%.2f", false)
	metric("write-amp (fillseq → close)", func(es *engineSummary) float64 { return es.fillseqWriteAmp.median }, "%.2f", true)
	metric("**space-amp** (after the first close)", func(es *engineSummary) float64 { return es.spaceAmp.median }, "%.2f", true)
	metric("space-amp (after reopen, reads, close)", func(es *engineSummary) float64 { return es.spaceAmpFinal.median }, "%.2f", true)
	metric("**peak RSS** (MiB)", func(es *engineSummary) float64 { return es.peakRSS.median / (1 << 20) }, "%.0f", true)
	metric("reopen (ms)", func(es *engineSummary) float64 { return es.reopenMs.median }, "%.1f", true)

	fmt.Fprintf(&b, "\nMB/s of user data (key + value bytes written or returned), median:\n\n")
	b.WriteString("| " + strings.Join(append([]string{"workload"}, s.engines...), " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(s.engines)+1) + "\n")
	for _, p := range s.phases {
		row := []string{p}
		for _, e := range s.engines {
			if mb := s.by[e].mbps[p].median; mb > 0 {
				row = append(row, fmt.Sprintf("%.1f", mb))
			} else {
				row = append(row, "—") // readmissing returns no data
			}
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}

	fmt.Fprintf(&b, "\nSpread (min–max ops/s over repetitions):\n\n")
	b.WriteString("| " + strings.Join(append([]string{"workload"}, s.engines...), " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(s.engines)+1) + "\n")
	for _, p := range s.phases {
		row := []string{p}
		for _, e := range s.engines {
			o := s.by[e].ops[p]
			row = append(row, humanOps(o.min)+"–"+humanOps(o.max))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}

	writeLatencyTable(&b, s, "Each put (fill phases), get (read phases) or seek with its Nexts (seeknext100) timed on its own")

	fmt.Fprintf(&b, "\n## What was measured\n\n")
	fmt.Fprintf(&b, "One worker process per engine and repetition runs, on fresh directories:\n\n")
	fmt.Fprintf(&b, "1. `fillseq`: N puts in key order into a database of its own, closed and deleted; %d round(s), each into a fresh database, reported as the puts of all rounds over their summed fill time (opens and closes untimed), with their latencies merged and the first round's write amplification.\n", c.fillseqRounds)
	fmt.Fprintf(&b, "2. `fillsync1` and `fillsync16`: %d puts in a pseudo-random order, from 1 and from %d goroutines, each into a fresh database opened in the engine's synced-write mode (every put returns once durable), closed and deleted. Engines that commit concurrent writers' puts with one fsync gain in `fillsync16`.\n", c.syncOps, syncWriters)
	fmt.Fprintf(&b, "3. On another database: `fillrandom` (every key once, pseudo-random order) → `overwrite` (N puts of uniformly drawn keys) → `readrandom` → `readmissing` (keys between the written ones: only Bloom filters help) → `readrandom4` (the same gets over 4 goroutines) → `seeknext100` → `readseq` (full scan).\n")
	fmt.Fprintf(&b, "4. Close; write-amp and disk space are measured here. 5. Reopen → `readrandom-reopen` → `readseq-reopen` → close.\n\n")
	fmt.Fprintf(&b, "Phases follow each other without waiting for background flushes or merges (as in db_bench). All engines see the same key sequences (seed %d). ", c.seed)
	fmt.Fprintf(&b, "%s ", valuesText(c.valueRandom))
	fmt.Fprintf(&b, "Every read phase checks its answers: all gets of written keys found a %d-byte value, none of the missing keys was found, each scan saw N entries.\n\n", c.valueSize)
	fmt.Fprintf(&b, "- **write-amp**: bytes the worker process caused to be written to storage (`/proc/self/io` %s", s.writeAmpSource())
	fmt.Fprintf(&b, ", charged when a page is dirtied) from the start of fillrandom to the close after readseq — WAL, flushes, merges, manifests, value log — divided by the user bytes put in that window (2N × %d). ", c.entrySize())
	fmt.Fprintf(&b, "The \"net\" row subtracts `cancelled_write_bytes`, the dirty pages of files deleted before the kernel wrote them back: it is closer to what reached the disk but rewards an engine that deletes a WAL it never fsynced, so it depends on fsync policy as much as on the design. ")
	fmt.Fprintf(&b, "The \"wchar\" row counts bytes passed to write calls (stores into memory-mapped files, such as Badger's memtable logs and Strata's WAL, are not in it).\n")
	fmt.Fprintf(&b, "- **space-amp**: blocks allocated to the main database's files after that close, divided by N × %d (every key is live). ", c.entrySize())
	fmt.Fprintf(&b, "The peers compress blocks with Snappy by default; Strata compresses each value on its own with Snappy (its default), keeping the compressed form when it saves an eighth. Whatever an engine leaves in its logs at close counts too (Pebble and goleveldb do not flush the memtable on close, their WAL holds it; Pebble may also keep log files for reuse); the second space-amp row is measured after the reopen has replayed and flushed them. Disk use by file kind after the first close (first repetition):\n\n")
	for _, e := range s.engines {
		fmt.Fprintf(&b, "  - %s: %s\n", e, formatExt(s.by[e].spaceByExt))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- **peak RSS**: the worker's VmHWM (the larger of it and `getrusage` of the child) over the whole sequence, including Go heap garbage and, for Badger, its memory-mapped tables.\n\n")

	fmt.Fprintf(&b, "## Settings\n\n")
	fmt.Fprintf(&b, "Matched: block cache / buffer pool %d MiB, memtable %d MiB, 10 Bloom bits per key, no sync per write except in `fillsync1` and `fillsync16`, which sync every put (Strata `SyncWrites: true`, Pebble `pebble.Sync`, goleveldb `opt.WriteOptions{Sync: true}`, Badger `WithSyncWrites(true)`). Everything else is each engine's default.\n\n",
		c.cacheBytes>>20, c.memBytes>>20)
	writeSettingsTable(&b, s)

	fmt.Fprintf(&b, "\n## Machine\n\n")
	writeMachine(&b, m)
	fmt.Fprintf(&b, "- The data (≈ %d MB per database) fits in the page cache, so reads measure each engine's CPU path through its cache and the kernel's, not the disk.\n", int64(c.n)*c.entrySize()/1e6)
	fmt.Fprintf(&b, "\n![ops/s per workload and engine](peers.png)\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeSettingsTable lists each engine's matched options and the defaults
// its worker reported.
func writeSettingsTable(b *strings.Builder, s *summary) {
	c := s.cfg
	fmt.Fprintf(b, "| engine | matched options | defaults worth knowing (as reported by the worker) |\n|---|---|---|\n")
	writeBehind := ""
	if c.strataWriteBehind {
		writeBehind = ", WALWriteBehind: true"
	}
	matched := map[string]string{
		"strata":    fmt.Sprintf("`Options{CacheSize: %d MiB, MemtableSize: %d MiB, BloomBitsPerKey: 10, SyncWrites: false%s}`", c.cacheBytes>>20, c.memBytes>>20, writeBehind),
		"pebble":    fmt.Sprintf("`Options{Cache: pebble.NewCache(%d MiB), MemTableSize: %d MiB}`, `Levels[i].FilterPolicy = bloom.FilterPolicy(10)` on all 7 levels, writes with `pebble.NoSync`", c.cacheBytes>>20, c.memBytes>>20),
		"goleveldb": fmt.Sprintf("`opt.Options{BlockCacheCapacity: %d MiB, WriteBuffer: %d MiB, Filter: filter.NewBloomFilter(10)}`, nil WriteOptions (no sync)", c.cacheBytes>>20, c.memBytes>>20),
		"badger":    fmt.Sprintf("`DefaultOptions(dir).WithBlockCacheSize(%d MiB).WithMemTableSize(%d MiB).WithBloomFalsePositive(0.0082).WithSyncWrites(false)`, IndexCacheSize 0 (default); one `Update` transaction per put, one `View` per get", c.cacheBytes>>20, c.memBytes>>20),
	}
	for _, e := range s.engines {
		fmt.Fprintf(b, "| %s | %s | %s |\n", e, matched[e], s.by[e].settings)
	}
}

// writeMachine describes the machine and its load as bullets.
func writeMachine(b *strings.Builder, m machine) {
	fmt.Fprintf(b, "- CPUs (nproc): %d × %s\n", m.CPUs, m.CPUModel)
	fmt.Fprintf(b, "- memory: %s\n", m.MemTotal)
	fmt.Fprintf(b, "- kernel: %s\n", m.Kernel)
	fmt.Fprintf(b, "- data directory: `%s` on %s (%s, %s)\n", m.DataDir, m.Filesystem, m.Device, m.MountOpts)
	fmt.Fprintf(b, "- Go: %s\n", m.GoVersion)
	fmt.Fprintf(b, "- Strata source at the start of the run: %s\n", m.Source)
	fmt.Fprintf(b, "- load average (1, 5, 15 min) at start: %s; at end: %s. Other processes shared the cores during the run, so absolute numbers are noisy; the round-robin order spreads that noise over the engines.\n", m.LoadStart, m.LoadEnd)
}

func (s *summary) writeAmpSource() string {
	for _, e := range s.engines {
		if s.by[e].writeAmpSource == "wchar" {
			return "`wchar`, because `write_bytes` was 0 on this filesystem"
		}
	}
	return "`write_bytes`"
}

// valuesText says how compressible the values are.
func valuesText(random float64) string {
	if random >= 1 {
		return "Values are random printable bytes: Snappy cannot shrink them (an entropy coder such as zstd could save about a sixth, the printable alphabet's unused bits)."
	}
	t := fmt.Sprintf("Every 100 bytes of a value are %.0f%% random printable bytes followed by a repeat of them (as db_bench builds values), so a compressor shrinks a value to about %.0f%% of its size", random*100, random*100)
	if random == 0.5 {
		t += " (db_bench's default compression ratio 0.5)"
	}
	return t + "."
}

// writeLatencyTable adds the p50 / p99 / p99.9 of every phase that timed
// single operations; what says which operations those were.
func writeLatencyTable(b *strings.Builder, s *summary, what string) {
	var timed []string
	for _, p := range s.phases {
		for _, e := range s.engines {
			if _, ok := s.by[e].lat[p]; ok {
				timed = append(timed, p)
				break
			}
		}
	}
	if len(timed) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Latency of single operations (µs: p50 / p99 / p99.9, median over repetitions)\n\n")
	fmt.Fprintf(b, "%s, by a read of the monotonic clock before and after the call, into an HdrHistogram (3 significant digits). The two reads cost about 70 ns per operation on the 2-core VM, which every engine's throughput above pays alike. In the multi-goroutine phases every goroutine's operations count. The last column compares p99, lower is better: above 1 Strata is slower.\n\n", what)
	header := append(append([]string{"workload"}, s.engines...), "Strata / best peer (p99)")
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, p := range timed {
		row := []string{p}
		for _, e := range s.engines {
			l, ok := s.by[e].lat[p]
			if !ok {
				row = append(row, "—")
				continue
			}
			row = append(row, humanMicros(l.p50.median)+" / "+humanMicros(l.p99.median)+" / "+humanMicros(l.p999.median))
		}
		row = append(row, s.ratioToBest(func(es *engineSummary) float64 { return es.lat[p].p99.median }, false))
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
}

// humanMicros prints a latency in µs with three significant digits or
// fewer.
func humanMicros(us float64) string {
	switch {
	case us >= 100:
		return fmt.Sprintf("%.0f", us)
	case us >= 10:
		return fmt.Sprintf("%.1f", us)
	}
	return fmt.Sprintf("%.2f", us)
}

// sizeName prints 100 as "100 B", 4096 as "4 KiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// formatExt lists bytes per file kind, largest first.
func formatExt(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	slices.SortFunc(l, func(a, b kv) int { return int(b.v>>10 - a.v>>10) })
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s %.1f MB", x.k, float64(x.v)/1e6))
	}
	return strings.Join(parts, ", ")
}

// humanOps prints 1234567 as 1.23M.
func humanOps(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.0fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
