package db

import (
	"fmt"
	"strings"
	"time"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/lsm"
)

// LevelMetrics describes one level of the tree.
type LevelMetrics struct {
	Files int
	Runs  int
	Bytes uint64
	// Entries counts the entries (including tombstones and old versions).
	Entries uint64
	// BloomBitsPerKey is the entry-weighted mean of the files' filter bits.
	BloomBitsPerKey float64
}

// Metrics is a snapshot of the database's counters.
type Metrics struct {
	Levels [lsm.NumLevels]LevelMetrics
	// Memtable bytes, and immutable memtables waiting for a flush.
	MemtableBytes      int64
	ImmutableMemtables int
	Flushes            uint64
	Compactions        uint64
	BytesFlushed       uint64
	CompactionBytesIn  uint64
	CompactionBytesOut uint64
	WALBytes           uint64
	UserBytes          uint64
	// WALSyncs counts the fsyncs of the WAL that synced writes waited for,
	// and SyncedWrites those writes: their ratio is how many writes an
	// fsync served on average (group commit).
	WALSyncs, SyncedWrites uint64
	WriteStalls            uint64
	WriteStallTime         time.Duration
	Cache                  cache.Metrics
	// WriteAmplification is (WAL + flush + compaction output bytes) per
	// user byte written.
	WriteAmplification float64
	// ReadAmplification is the number of sorted runs (plus memtables) a
	// point lookup may have to probe.
	ReadAmplification int
	// TrivialMoves counts compactions that moved a file down without rewriting.
	TrivialMoves uint64
	// TablesIngested counts the tables Ingest added.
	TablesIngested uint64
	// ReadCompactions counts compactions that folded overlapping runs, a
	// level into the next, or, once writes had stopped, the whole tree into
	// its last level, because reads had paid for them (see doc/tree.md),
	// among Compactions.
	ReadCompactions uint64
	// SpaceCompactions counts compactions that folded the whole tree into
	// its last level once writes had stopped, without readers paying,
	// because the runs above the last level held at least a tenth of its
	// bytes (see doc/tree.md), among Compactions.
	SpaceCompactions uint64
	// WriteSlowdowns counts writes delayed because level 0 was deep.
	WriteSlowdowns uint64
	// BloomChecks, BloomNegatives and BloomFalsePositives count SST filter
	// probes by gets: probes, "absent" answers, and "maybe" answers for a
	// key the file did not hold.
	BloomChecks, BloomNegatives, BloomFalsePositives uint64
	// DirectIOFiles and DirectIOFallbacks count SSTs opened with O_DIRECT
	// and those read buffered because the filesystem refused it.
	DirectIOFiles, DirectIOFallbacks uint64
	// BackgroundErrors counts flushes and compactions that failed; each is
	// retried after a back-off unless it stopped writes (corruption).
	// LastBackgroundError is the newest such failure, or "".
	BackgroundErrors    uint64
	LastBackgroundError string
	// Recovery is what Open found when it replayed the WALs.
	Recovery RecoveryReport
	// BloomBytes is the memory of the filters of the live SSTs (estimated
	// from their bits per key).
	BloomBytes uint64
}

// Metrics returns a snapshot of the database's counters.
func (d *DB) Metrics() Metrics {
	var m Metrics
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return m
	}
	v := d.mu.version
	v.Ref()
	m.MemtableBytes = d.mu.mem.ApproximateSize()
	m.ImmutableMemtables = len(d.mu.imms)
	m.ReadAmplification = 1 + len(d.mu.imms)
	s := d.mu.stats
	if d.mu.lastBackgroundErr != nil {
		m.LastBackgroundError = d.mu.lastBackgroundErr.Error()
	}
	d.mu.Unlock()
	defer v.Unref()

	for l := range v.Levels {
		lm := &m.Levels[l]
		var bits float64
		for _, r := range v.Levels[l] {
			lm.Runs++
			for _, f := range r.Files {
				lm.Files++
				lm.Bytes += f.Size
				lm.Entries += f.Entries
				bits += f.BloomBitsPerKey * float64(f.Entries)
			}
		}
		if lm.Entries > 0 {
			lm.BloomBitsPerKey = bits / float64(lm.Entries)
		}
		m.ReadAmplification += lm.Runs
		m.BloomBytes += uint64(bits / 8)
	}
	m.Flushes = s.flushes
	m.Compactions = s.compactions
	m.BytesFlushed = s.bytesFlushed
	m.CompactionBytesIn = s.compactBytesIn
	m.CompactionBytesOut = s.compactBytesOut
	m.WALBytes = s.walBytes
	m.UserBytes = s.userBytes
	m.WALSyncs, m.SyncedWrites = s.walSyncs, s.syncedWrites
	m.WriteStalls = s.stalls
	m.WriteStallTime = s.stallTime
	m.TrivialMoves = s.trivialMoves
	m.TablesIngested = s.ingested
	m.ReadCompactions = s.readCompactions
	m.SpaceCompactions = s.spaceCompactions
	m.WriteSlowdowns = s.slowdowns
	m.DirectIOFiles, m.DirectIOFallbacks = d.tables.directFiles.Load(), d.tables.directFallbacks.Load()
	fs := d.tables.filterStats()
	m.BloomChecks, m.BloomNegatives, m.BloomFalsePositives = fs.BloomChecks, fs.BloomNegatives, fs.BloomFalsePositives
	m.Cache = d.cache.Metrics()
	m.Recovery = d.recovery
	m.BackgroundErrors = s.backgroundErrors
	if s.userBytes > 0 {
		m.WriteAmplification = float64(s.walBytes+s.bytesFlushed+s.compactBytesOut) / float64(s.userBytes)
	}
	return m
}

// String formats the metrics as a small table.
func (m Metrics) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "level  runs  files       bytes     entries  bloom-bits\n")
	for l, lm := range m.Levels {
		if lm.Files == 0 {
			continue
		}
		fmt.Fprintf(&b, "%5d %5d %6d %11d %11d %11.1f\n", l, lm.Runs, lm.Files, lm.Bytes, lm.Entries, lm.BloomBitsPerKey)
	}
	fmt.Fprintf(&b, "memtable %d bytes, %d immutable\n", m.MemtableBytes, m.ImmutableMemtables)
	fmt.Fprintf(&b, "flushes %d (%d bytes), compactions %d (%d trivial moves, %d for reads, %d for space; %d bytes in, %d out)\n",
		m.Flushes, m.BytesFlushed, m.Compactions, m.TrivialMoves, m.ReadCompactions, m.SpaceCompactions, m.CompactionBytesIn, m.CompactionBytesOut)
	fmt.Fprintf(&b, "read amplification %d runs; bloom %d bytes, %d probes, %d negative, %d false positive\n",
		m.ReadAmplification, m.BloomBytes, m.BloomChecks, m.BloomNegatives, m.BloomFalsePositives)
	fmt.Fprintf(&b, "user bytes %d, WAL bytes %d, write amplification %.2f\n", m.UserBytes, m.WALBytes, m.WriteAmplification)
	if m.WALSyncs > 0 {
		fmt.Fprintf(&b, "synced writes %d in %d WAL fsyncs (%.1f each)\n", m.SyncedWrites, m.WALSyncs, float64(m.SyncedWrites)/float64(m.WALSyncs))
	}
	fmt.Fprintf(&b, "write stalls %d (%s), slowdowns %d\n", m.WriteStalls, m.WriteStallTime, m.WriteSlowdowns)
	if m.DirectIOFiles+m.DirectIOFallbacks > 0 {
		fmt.Fprintf(&b, "direct I/O: %d files, %d fell back to buffered reads\n", m.DirectIOFiles, m.DirectIOFallbacks)
	}
	fmt.Fprintf(&b, "cache: %d hits, %d misses, %d evictions, %d/%d frames pinned, %d bytes read\n",
		m.Cache.Hits, m.Cache.Misses, m.Cache.Evictions, m.Cache.Pinned, m.Cache.Frames, m.Cache.BytesRead)
	if m.BackgroundErrors > 0 {
		fmt.Fprintf(&b, "background errors %d, last: %s\n", m.BackgroundErrors, m.LastBackgroundError)
	}
	if r := m.Recovery; r.WALs > 0 {
		fmt.Fprintf(&b, "recovery: %d WALs, %d records replayed, %d bytes dropped", r.WALs, r.Records, r.DroppedBytes)
		if r.Damage != "" {
			fmt.Fprintf(&b, " (%s)", r.Damage)
		}
		b.WriteString("\n")
	}
	return b.String()
}
