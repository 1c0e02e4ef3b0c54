// Package db is Strata's public API: an embedded, persistent, sorted
// key-value store built as an LSM tree whose SST files are indexed by a
// B+Tree.
//
//	d, err := db.Open("/var/lib/myapp/state", nil)
//	if err != nil { ... }
//	defer d.Close()
//	err = d.Put([]byte("user/42"), []byte("alice"))
//	v, err := d.Get([]byte("user/42"))          // errors.Is(err, db.ErrNotFound) if absent
//	it := d.Scan([]byte("user/"), []byte("user0"))
//	for it.Next() { fmt.Printf("%s=%s\n", it.Key(), it.Value()) }
//	err = it.Close()
//
// A DB is safe for concurrent use by many goroutines.
//
// Words: a flush writes a memtable to a new SST; a compaction merges
// sorted runs into new ones in the background (Compact asks for one);
// "merge" alone means a merge operand (DB.Merge, Options.Merge), and the
// merging iterator combines sources in key order.
package db

import (
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/memtable"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound is returned by Get for a key with no live value.
	ErrNotFound = base.ErrNotFound
	// ErrClosed is returned by every call on a closed DB or iterator.
	ErrClosed = base.ErrClosed
	// ErrCorruption wraps every error caused by on-disk bytes that fail
	// validation; the message names the file and the place.
	ErrCorruption = base.ErrCorruption
	// ErrKeyTooLarge is returned for a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("strata: key too large")
	// ErrValueTooLarge is returned for a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("strata: value too large")
	// ErrWritesStopped wraps the error that stopped writes: after a failed
	// WAL write or fsync, or a compaction that met a corrupt file, the database
	// cannot promise durability and refuses further writes. Reopen it to
	// recover. (Other failures of flushes and compactions are retried.)
	ErrWritesStopped = errors.New("strata: writes stopped")
	// ErrLocked is returned by Open when another DB (in this or another
	// process) holds the directory.
	ErrLocked = errors.New("strata: database directory is locked")
	// ErrReadOnly is returned by every write, Flush and Compact of a
	// database opened with Options.ReadOnly.
	ErrReadOnly = errors.New("strata: database opened read-only")
	// ErrNoMergeOperator is returned by a merge write, or a read of a key
	// that holds merge operands, on a database without Options.Merge.
	ErrNoMergeOperator = errors.New("strata: merge operand without a merge operator (Options.Merge)")
)

// DB is an open database.
type DB struct {
	dirname    string
	opts       *Options
	fs         vfs.FS
	lock       io.Closer
	cache      *cache.Pool
	tables     *tableCache
	maxKeySize int
	// unboundedEnd ends range deletions given no end: maxKeySize+1 bytes
	// of 0xff, above every key this database accepts.
	unboundedEnd []byte
	// chunks recycles the arena chunks of flushed memtables.
	chunks *memtable.ChunkPool
	// batchPool recycles the batches of single Puts and Deletes.
	batchPool sync.Pool
	// iterPool recycles the memory of closed iterators (iterParts).
	iterPool sync.Pool

	// closing is set when Close begins, so that reads failing on files
	// Close shuts under them say so (readErr).
	closing atomic.Bool

	// visibleSeq is the newest seqnum readers may see: every write with a
	// seqnum at or below it is fully applied to the memtable.
	visibleSeq atomic.Uint64

	// rsMu guards rs, the view new readers take. Readers never take mu.
	rsMu sync.RWMutex
	rs   *readState

	// commitMu is held by whoever writes the WAL and the memtable: an
	// unsynced write committing alone, the leader of a group of synced
	// writes, or a barrier (Flush, Ingest) while it switches memtables.
	// Lock order: the head of the commit queue, then commitMu, then mu.
	// Close takes it once after setting closed, to wait out a commit in
	// flight.
	commitMu sync.Mutex
	// spinCommits says lockCommit may spin: the process had more than one
	// processor when Open ran (runtime.GOMAXPROCS takes the scheduler's
	// lock, too dear to ask on every contended commit).
	spinCommits bool
	// lastSyncNanos is how long the last fsync for synced writes took
	// (gatherLocked); only the holder of commitMu stores it.
	lastSyncNanos atomic.Int64

	// mu guards the fields it holds; bgCond and the commit queue's
	// writers wait on it. versionMu, when both are needed, comes first.
	mu struct {
		sync.Mutex
		// closed is set by Close.
		closed bool
		// writers is the commit queue of synced writes and barriers;
		// writers[0] is the leader.
		writers []*writer
		// lastGroup is the number of synced writes the last synced group
		// committed (gatherLocked).
		lastGroup int
		// committing counts the unsynced writes committing alone that
		// found the database open; the flush goroutine keeps going
		// until they are done, as for queued ones.
		committing int
		// mem takes new writes; imms wait for a flush, oldest first.
		mem  *memtable.Memtable
		imms []*flushable
		// log is the WAL of mem; logNum its file number.
		log    *wal.Writer
		logNum base.FileNum
		// sealing is the seal of the WAL before log (walSeal), nil once there
		// was none since Open.
		sealing *walSeal
		// lastSeq is the last seqnum assigned.
		lastSeq base.SeqNum
		// flushedSeq is the newest seqnum in version's files: every write at
		// or below it is in the tree, none above it (memtables flush in
		// order). Read-only, it is the manifest's last seqnum, which may be
		// above the newest in the tables (Checkpoint is then refused unless
		// nothing was replayed, and the tables hold everything up to it).
		flushedSeq base.SeqNum
		// nextFileNum is the next file number to hand out.
		nextFileNum base.FileNum
		// version is the current tree.
		version *lsm.Version
		// writeErr, once set, stops every write.
		writeErr error
		// bgErr, once set, stops background work (and writes, in writeErr):
		// corruption met by a compaction, or an edit the tree rejected.
		bgErr error
		// lastBackgroundErr is the last failure of a flush or compaction, and
		// lastFlushErr of a flush; retried unless bgErr says otherwise.
		lastBackgroundErr, lastFlushErr error
		// compactionFailures counts automatic compactions failed in a row.
		compactionFailures int
		// manifestBroken is set when a manifest write failed: the manifest
		// may end in a torn or an unacknowledged edit, so the next edit
		// starts a new manifest. orphans are the files such an edit added:
		// the old manifest may name them, so they are removed only once a
		// new manifest is durable.
		manifestBroken bool
		orphans        []base.FileNum
		// retryKick is closed (and replaced) to end retry waits early, when a
		// writer starts to stall.
		retryKick chan struct{}
		// flushing and compacting are set while a flush, or a compaction
		// of compactLoop, runs.
		flushing, compacting bool
		// compactingLevel0 is set while level0Loop compacts; level0Exclusive while
		// any compaction that needs level 0 to itself runs (see writesLevel0).
		compactingLevel0, level0Exclusive bool
		// foldingLevel0 is, while compactLoop folds the whole tree
		// (lsm.Picker.PickFold) with level 0 in it, the id of the newest
		// level-0 run it reads, and 0 otherwise: level0Loop goes on with
		// the runs flushed since (see runWholeFoldLocked).
		foldingLevel0 uint64
		// ingesting counts Ingest calls under way: no compaction starts meanwhile.
		ingesting int
		// stalledWriters counts writers waiting in makeRoomForWriteLocked for
		// a flush or a compaction; failed background work retries sooner then.
		stalledWriters int
		// stats counts work for Metrics.
		stats dbStats
		// manualReqs are Compact calls waiting for the compaction goroutine.
		manualReqs []*manualCompaction
	}
	// manifest is the open manifest log; written only by the goroutine
	// that holds versionMu.
	manifest *manifest.Writer
	// closeCh is closed when Close begins; it cuts retry waits short.
	closeCh chan struct{}
	// obsolete queues files no version names for the deleter goroutine.
	obsolete obsoleteQueue
	// bgCond is signalled when background work finishes or is needed.
	bgCond *sync.Cond
	// recovery is what Open's WAL replay found; set before Open returns.
	recovery RecoveryReport
	// walFiles holds, while a read-only Open replays, a handle to every
	// WAL it listed (openWAL).
	walFiles map[base.FileNum]vfs.File

	// snapMu guards snapshots, the seqnums of open snapshots (with
	// repeats). NewSnapshot and Snapshot.Close take it alone; a compaction
	// takes it under mu.
	snapMu    sync.Mutex
	snapshots []base.SeqNum

	// versionMu serialises manifest writes and version installs. It is
	// taken before mu when both are needed.
	versionMu sync.Mutex

	// bgWG counts the background goroutines.
	bgWG sync.WaitGroup
	// reads is the readers' account of extra runs (readcompaction.go); atomic.
	reads readDebt
	// picker chooses compactions; used only by the compaction goroutine.
	picker     *lsm.Picker
	pickerOpts lsm.PickerOptions
}

// flushable is a full memtable waiting for its flush, with the WAL that
// holds its writes.
type flushable struct {
	mem    *memtable.Memtable
	logNum base.FileNum
	// lastSeq is the newest seqnum in mem: the database's last seqnum
	// when mem stopped taking writes.
	lastSeq base.SeqNum
	// seal is the sealing of the WAL, which the flush drops (walSeal.drop)
	// before the WAL file is removed.
	seal *walSeal
}

// RecoveryReport says what Open found when it replayed the WALs.
type RecoveryReport struct {
	// WALs and Records count the WAL files and records (batches) replayed.
	WALs    int
	Records uint64
	// DroppedBytes counts the bytes of WAL not replayed: a damaged tail
	// past the newest WAL's last sync (a crash's leftovers: never
	// acknowledged as synced) or, with Options.WALSalvage, everything from
	// the damage on. Zero padding after the last record is not counted.
	DroppedBytes int64
	// Damage describes the damaged record replay stopped at, if any.
	Damage string
}

type dbStats struct {
	flushes, compactions      uint64
	trivialMoves              uint64
	backgroundErrors          uint64
	flushFailures             uint64
	bytesFlushed              uint64
	memBytesFlushed           uint64 // memtable bytes those flushes wrote out
	readCompactions           uint64 // compactions readers paid for (readcompaction.go)
	spaceCompactions          uint64 // whole-tree folds run for space (readcompaction.go)
	compactBytesIn            uint64
	compactBytesOut           uint64
	stallTime                 time.Duration
	stalls, slowdowns         uint64
	walBytes, userBytes       uint64
	walSyncs, syncedWrites    uint64 // fsyncs for synced writes, and the writes they covered
	obsoleteFilesRemoveErrors uint64
	ingested                  uint64 // tables Ingest added
}

// MaxKeySize returns the largest key the database accepts: it depends on
// the page size (a B+Tree node must hold several separators). With the
// default 4 KiB pages it is 992 bytes.
func (d *DB) MaxKeySize() int { return d.maxKeySize }

func (d *DB) path(name string) string { return filepath.Join(d.dirname, name) }

// isClosed reports whether Close has begun.
func (d *DB) isClosed() bool { return d.closing.Load() }

// Close syncs the WAL, waits for background work to stop and releases every
// resource, the buffer pool's memory included. Data in the memtable is
// recovered from the WAL at the next Open. Every later call on d returns
// ErrClosed. Close iterators first: one left open keeps the pages it pins
// (and with them the pool's memory) until it is closed, and fails once it
// needs another page.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.mu.closed = true
	d.closing.Store(true)
	close(d.closeCh)
	// Wait for queued writers to drain, then for an unsynced write in
	// flight: later ones find closed set.
	for len(d.mu.writers) > 0 {
		d.bgCond.Wait()
	}
	d.bgCond.Broadcast()
	d.mu.Unlock()
	d.commitMu.Lock()
	//lint:ignore SA2001 taking the lock is the wait for the commit in flight
	d.commitMu.Unlock()
	d.bgWG.Wait()

	var err error
	d.mu.Lock()
	if t := d.reads.timer; t != nil {
		t.Stop() // nothing is left to look for work
	}
	var sealErr error
	if seal := d.mu.sealing; seal != nil {
		// The last WAL's sync must not be recorded before every older
		// WAL is sealed: wait for them.
		d.mu.Unlock()
		sealErr = seal.wait()
		d.mu.Lock()
	}
	if d.mu.log != nil {
		if sealErr != nil {
			// An older WAL may end torn: closing this one would record
			// it as synced, and recovery would call the tear corruption.
			d.mu.log.Abandon()
		} else if cerr := d.mu.log.Close(); cerr != nil && d.mu.writeErr == nil {
			err = cerr
		}
		d.mu.log = nil
	}
	d.mu.Unlock()

	d.versionMu.Lock()
	if d.manifest != nil {
		if cerr := d.manifest.Close(); cerr != nil && err == nil {
			err = cerr
		}
		d.manifest = nil
	}
	d.versionMu.Unlock()

	d.rsMu.Lock()
	rs := d.rs
	d.rs = nil
	d.rsMu.Unlock()
	if rs != nil {
		rs.unref()
	}
	d.mu.Lock()
	v := d.mu.version
	d.mu.version = nil
	// Drop the database's own references to its memtables (a flush drops
	// an immutable one's); those of iterators left open stay. Then the
	// arena chunks go back to the OS as the last references go.
	d.mu.mem.Unref()
	for _, imm := range d.mu.imms {
		imm.mem.Unref()
	}
	d.mu.Unlock()
	d.chunks.Close()
	if v != nil {
		// Closing is not obsolescence: detach the deletion callback by
		// closing readers directly.
		d.tables.closeAll()
	}
	// The pool's memory goes back now, unless an iterator left open
	// still pins a page.
	d.cache.Close()
	if d.lock != nil { // nil when read-only
		if cerr := d.lock.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
