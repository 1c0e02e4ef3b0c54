package db

import (
	"fmt"
	"time"

	"github.com/seed-d6fe07da/strata/cache"

	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
)

// Options configures a database. A nil *Options means defaults; zero fields
// take their defaults too. Open never modifies the caller's struct.
type Options struct {
	// MemtableSize is the bytes a memtable holds before it is flushed to an
	// SST in the background. Default 4 MiB.
	MemtableSize int64
	// CacheSize is the bytes of the buffer pool that every SST page read
	// goes through. Default 64 MiB. On Linux the pool's memory is an
	// anonymous mapping outside the Go heap.
	CacheSize int64
	// DirectIO reads SSTs with O_DIRECT (Linux), bypassing the operating
	// system's page cache so the buffer pool alone decides what stays in
	// memory. Where the filesystem refuses it (tmpfs on older kernels, or a
	// block size larger than 4 KiB) reads fall back to buffered I/O, counted
	// in Metrics.DirectIOFallbacks.
	DirectIO bool
	// PageSize is the SST page size of a new database, a power of two in
	// [1024, 65536]. Default 4096. It bounds the key size: see MaxKeySize.
	// An existing database keeps the page size it was created with (its
	// manifest records it), whatever this says.
	PageSize int
	// BloomBitsPerKey is the Bloom filter memory per key. Default 10;
	// negative disables filters.
	BloomBitsPerKey float64
	// Compression is how SSTs store values: SnappyCompression (the
	// default) or NoCompression. Files written either way are read
	// whatever the setting.
	Compression Compression
	// SyncWrites makes every write return only after the WAL is fsynced.
	// When false, writes reach the operating system at once and are synced
	// by Flush, Close and memtable rotation: a process crash loses nothing,
	// a power cut may lose the latest writes.
	SyncWrites bool
	// WALWriteBehind lets an unsynced write return before its WAL record
	// reaches the operating system: records wait in memory (up to 1 MiB)
	// for a goroutine that writes them out, many per write call, as
	// Pebble's WAL does. A put then makes no system call, which saves
	// most of its time (3 µs of 4 at 1000-byte values; the README gives
	// the tails), but a crash of the process, not only a power cut, may
	// lose the latest acknowledged unsynced writes (recovery keeps a
	// prefix of the writes). Synced writes, Flush and Close wait for the
	// records as before. A failed background write fails the next write,
	// and every write after it, as a failed WAL write does. It does
	// nothing with SyncWrites, where every write waits for its record
	// anyway. Default false.
	WALWriteBehind bool
	// SizeRatio is T, the capacity ratio between adjacent levels. Default 4.
	SizeRatio int
	// RunsPerLevel is K, the most sorted runs a level above the last may
	// hold: 1 is leveling, T-1 tiering. Default 3 (lazy leveling with the
	// default T=4 and RunsAtLastLevel=1; see the README for why).
	RunsPerLevel int
	// RunsAtLastLevel is Z, the most sorted runs the last level may hold.
	// Default 1.
	RunsAtLastLevel int
	// L0CompactionTrigger is the number of level-0 runs that starts a compaction.
	// Default 4.
	L0CompactionTrigger int
	// L0SlowdownTrigger is the number of level-0 runs at which each write
	// is delayed by a millisecond so compactions catch up. Default
	// 2*L0CompactionTrigger.
	L0SlowdownTrigger int
	// L0StopTrigger is the number of level-0 runs at which writes wait for
	// compactions. Default 3*L0CompactionTrigger.
	L0StopTrigger int
	// MaxImmutableMemtables is the number of full memtables waiting for a
	// flush before writers stall. Default 2.
	MaxImmutableMemtables int
	// TargetFileSize bounds the size of the SSTs a merge writes. Default
	// 2*MemtableSize.
	TargetFileSize int64
	// WALSalvage opens a database whose WAL is damaged in bytes that had
	// been synced (an older WAL, or the newest one before a sync marker
	// that covers the damage): replay stops at the first damaged record
	// and everything after it, later WALs included, is dropped, so the
	// database opens as it was just before the damage, losing writes that
	// were acknowledged after it. Metrics.Recovery says what was dropped.
	// Without it such an Open fails with ErrCorruption. A damaged tail of
	// the newest WAL past its last sync is dropped either way: it was never
	// promised.
	WALSalvage bool
	// Merge is the merge operator that folds the operands of DB.Merge and
	// Batch.Merge into values. Without it those writes fail with
	// ErrNoMergeOperator, and reading a key that holds operands fails too.
	// Use the same operator every time the database is opened.
	Merge MergeOperator
	// ReadOnly opens the database for reading only: Open changes nothing
	// on disk (the WALs are replayed into memory, a damaged tail is
	// skipped rather than cut off, no file is created or removed), no
	// compaction runs, and every write, Flush and Compact returns ErrReadOnly.
	// Checkpoint works while nothing was replayed from a WAL (a
	// checkpoint, or a database closed cleanly after a Flush).
	//
	// It does not take the directory's lock, so it can open a database
	// another process has open, to inspect it: it sees the state as of
	// its Open, and a read may fail with an error wrapping
	// fs.ErrNotExist once the other process has compacted away a file this
	// one had not opened yet. The directory must hold a database.
	ReadOnly bool
	// FS is the filesystem; nil means the operating system's. Tests pass an
	// in-memory or fault-injecting one.
	FS vfs.FS
	// Experimental holds the switches the experiments under experiments/
	// use to compare a design choice with its alternative. Leave it zero.
	Experimental Experimental

	// failpoint, when set by tests, is called at named steps of flushes,
	// compactions and manifest writes (see failpoint names in flush.go); crash
	// tests kill the process there.
	failpoint func(name string)
	// maxManifestSize is the manifest size past which a new manifest,
	// starting with a snapshot of the current state, replaces it. Default
	// 8 MiB; tests make it small.
	maxManifestSize int64
	// quietAfter is how long writes must have stopped before reads fold
	// the whole tree (readCompactionLocked). Default 200 ms; the property
	// test makes it tiny, so that its short runs of operations fold often.
	quietAfter time.Duration
	// maxGatherWait bounds how long a leader of synced writes waits for
	// the rest of the last group (gatherLocked). Default maxGatherWait;
	// tests make it long, to see the gathering on a loaded machine.
	maxGatherWait time.Duration
	// closeFinishBytes is how much input a whole fold may have left when
	// Close begins and still finish; a fold with more left is canceled
	// (runWholeFoldLocked). Default defaultCloseFinishBytes; tests make
	// it tiny, to see the cancellation.
	closeFinishBytes int64
	// noSpaceFolds keeps the whole-tree fold for space from running
	// (readCompactionLocked), for tests of the folds readers pay for.
	noSpaceFolds bool
}

// Compression is how SSTs store values.
type Compression uint8

const (
	// DefaultCompression is SnappyCompression.
	DefaultCompression Compression = iota
	// SnappyCompression compresses each value on its own with Snappy when
	// that saves at least an eighth of it, so a lookup decompresses only
	// the value it returns.
	SnappyCompression
	// NoCompression stores values as they are.
	NoCompression
)

// String returns the compression's name: "snappy" or "none".
func (c Compression) String() string {
	switch c {
	case DefaultCompression, SnappyCompression:
		return "snappy"
	case NoCompression:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// Experimental holds switches that exist for the experiments under
// experiments/, which measure what a design choice buys against its
// alternative. They are not production settings: each zero value is the
// choice Strata makes.
type Experimental struct {
	// BinarySearchLeaves makes point lookups binary-search an SST's leaf
	// pages by their first keys instead of descending its B+Tree.
	BinarySearchLeaves bool
	// NoReadCompactions turns read-triggered compactions off
	// (Metrics.ReadCompactions), and the whole-tree folds for space once
	// writes stop (Metrics.SpaceCompactions): the tree then keeps the
	// shape the merge policy gives it however much it is read.
	NoReadCompactions bool
	// UniformBloom gives every SST BloomBitsPerKey bits per key instead of
	// Monkey's allocation (more bits at shallow levels, fewer at the last,
	// same total memory, fewer false positives).
	UniformBloom bool
	// CachePolicy is the buffer pool's replacement policy: Cache2Q (the
	// default, scan-resistant) or CacheLRU.
	CachePolicy CachePolicy
}

// CachePolicy is the buffer pool's replacement policy.
type CachePolicy uint8

const (
	// Cache2Q is the scan-resistant 2Q policy (the default).
	Cache2Q CachePolicy = iota
	// CacheLRU is plain LRU, which a long scan flushes.
	CacheLRU
)

// String returns the policy's name: "2q" or "lru".
func (p CachePolicy) String() string {
	switch p {
	case Cache2Q:
		return "2q"
	case CacheLRU:
		return "lru"
	}
	return fmt.Sprintf("CachePolicy(%d)", uint8(p))
}

// ensureDefaults returns a filled copy of o.
func (o *Options) ensureDefaults() *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MemtableSize == 0 {
		c.MemtableSize = 4 << 20
	}
	if c.CacheSize == 0 {
		c.CacheSize = 64 << 20
	}
	if c.PageSize == 0 {
		c.PageSize = 4096
	}
	if c.BloomBitsPerKey == 0 {
		c.BloomBitsPerKey = 10
	}
	if c.L0CompactionTrigger == 0 {
		c.L0CompactionTrigger = 4
	}
	if c.L0SlowdownTrigger == 0 {
		c.L0SlowdownTrigger = 2 * c.L0CompactionTrigger
	}
	if c.L0StopTrigger == 0 {
		c.L0StopTrigger = 3 * c.L0CompactionTrigger
	}
	if c.SizeRatio == 0 {
		c.SizeRatio = 4
	}
	if c.RunsPerLevel == 0 {
		c.RunsPerLevel = c.SizeRatio - 1
	}
	if c.RunsAtLastLevel == 0 {
		c.RunsAtLastLevel = 1
	}
	if c.Compression == DefaultCompression {
		c.Compression = SnappyCompression
	}
	if c.MaxImmutableMemtables == 0 {
		c.MaxImmutableMemtables = 2
	}
	if c.TargetFileSize == 0 {
		c.TargetFileSize = 2 * c.MemtableSize
	}
	if c.maxManifestSize == 0 {
		c.maxManifestSize = 8 << 20
	}
	if c.quietAfter == 0 {
		c.quietAfter = defaultQuietAfter
	}
	if c.closeFinishBytes == 0 {
		c.closeFinishBytes = defaultCloseFinishBytes
	}
	if c.maxGatherWait == 0 {
		c.maxGatherWait = maxGatherWait
	}
	if c.FS == nil {
		c.FS = vfs.Default()
	}
	return &c
}

// sstCompression is the compression of the SSTs o writes; o has its
// defaults filled in and was validated.
func (o *Options) sstCompression() sst.Compression {
	if o.Compression == NoCompression {
		return sst.NoCompression
	}
	return sst.SnappyCompression
}

// Validate reports the first option that makes no sense, naming the field.
// Zero values are valid (they mean the default).
func (o *Options) Validate() error {
	c := o.ensureDefaults()
	switch {
	case c.MemtableSize < 64<<10:
		return fmt.Errorf("strata: Options.MemtableSize %d: must be at least 64 KiB", c.MemtableSize)
	case c.PageSize < 1024 || c.PageSize > 65536 || c.PageSize&(c.PageSize-1) != 0:
		return fmt.Errorf("strata: Options.PageSize %d: must be a power of two in [1024, 65536]", c.PageSize)
	case c.CacheSize < int64(16*c.PageSize):
		return fmt.Errorf("strata: Options.CacheSize %d: must hold at least 16 pages", c.CacheSize)
	case cache.Options{Capacity: c.CacheSize, PageSize: c.PageSize}.Validate() != nil:
		return fmt.Errorf("strata: Options.CacheSize: %w", cache.Options{Capacity: c.CacheSize, PageSize: c.PageSize}.Validate())
	case c.Experimental.CachePolicy > CacheLRU:
		return fmt.Errorf("strata: Options.Experimental.CachePolicy %v: must be Cache2Q or CacheLRU", c.Experimental.CachePolicy)
	case c.Compression > NoCompression:
		return fmt.Errorf("strata: Options.Compression %v: must be SnappyCompression or NoCompression", o.Compression)
	case c.BloomBitsPerKey > 64:
		return fmt.Errorf("strata: Options.BloomBitsPerKey %g: must be at most 64", c.BloomBitsPerKey)
	case c.L0CompactionTrigger < 1:
		return fmt.Errorf("strata: Options.L0CompactionTrigger %d: must be positive", c.L0CompactionTrigger)
	case c.MaxImmutableMemtables < 1:
		return fmt.Errorf("strata: Options.MaxImmutableMemtables %d: must be positive", c.MaxImmutableMemtables)
	case c.SizeRatio < 2 || c.SizeRatio > 64:
		return fmt.Errorf("strata: Options.SizeRatio %d: must be in [2, 64]", c.SizeRatio)
	case c.RunsPerLevel < 1 || c.RunsPerLevel > 64:
		return fmt.Errorf("strata: Options.RunsPerLevel %d: must be in [1, 64]", c.RunsPerLevel)
	case c.RunsAtLastLevel < 1 || c.RunsAtLastLevel > 64:
		return fmt.Errorf("strata: Options.RunsAtLastLevel %d: must be in [1, 64]", c.RunsAtLastLevel)
	case c.L0SlowdownTrigger < c.L0CompactionTrigger:
		return fmt.Errorf("strata: Options.L0SlowdownTrigger %d: must be at least L0CompactionTrigger", c.L0SlowdownTrigger)
	case c.L0StopTrigger < c.L0SlowdownTrigger:
		return fmt.Errorf("strata: Options.L0StopTrigger %d: must be at least L0SlowdownTrigger", c.L0StopTrigger)
	case c.TargetFileSize < int64(c.PageSize)*16:
		return fmt.Errorf("strata: Options.TargetFileSize %d: must be at least 16 pages", c.TargetFileSize)
	}
	return nil
}

// MergeOperator applies a merge operand to a key's value and returns the
// result. existing is nil when the key has no value (never written, or
// deleted); otherwise it is the value, or the result of earlier operands,
// in a buffer the database owns that the operator may modify and append
// to (appending the operand to it builds a list without a copy). operand
// must not be modified, and neither may be retained after the call. The
// operator is called from readers and from merges of files at once, so it
// must be safe for concurrent use. An error fails the read that met it;
// in a compaction of files it stops background work and writes
// (ErrWritesStopped), since no retry can fold those operands.
//
// The operator must be associative: applying operands b then c must give
// what applying c to the result of applying b to nothing gives, so
// Merge(Merge(x, b), c) == Merge(x, Merge(Merge(nil, b), c)) for every x,
// nil included. Compactions fold runs of operands into one this way
// before the value they apply to is known, as RocksDB's associative merge
// operators do. Counters (add a delta) and list appends are associative.
type MergeOperator func(key, existing, operand []byte) ([]byte, error)
