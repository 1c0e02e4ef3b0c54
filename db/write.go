package db

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/memtable"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// writer is one caller of Write: a synced write or a barrier waiting in
// the commit queue, or an unsynced write committing alone.
type writer struct {
	batch *Batch
	sync  bool
	done  bool
	err   error
	cond  sync.Cond
}

// maxGroupBytes bounds how much a commit leader gathers into one group,
// unless the leader's own batch is larger than a quarter of it: then the
// group may reach four times that batch. With a fixed bound a synced write
// of a megabyte shared its fsync with no other, and 16 writers of 1 MiB
// values each waited for an fsync of their own (102-119 puts/s, against
// 127-136 grouped). A leader of a small batch still gathers no more than
// the bound, so its own latency stays short.
const maxGroupBytes = 1 << 20

// getBatch returns an empty batch from the pool, for single writes.
func (d *DB) getBatch() *Batch {
	if b, ok := d.batchPool.Get().(*Batch); ok {
		b.Reset()
		return b
	}
	return &Batch{maxKey: d.maxKeySize}
}

// putBatch returns a batch to the pool unless it grew large.
func (d *DB) putBatch(b *Batch) {
	if cap(b.data) <= 64<<10 {
		d.batchPool.Put(b)
	}
}

// Put sets key to value. The DB copies both.
func (d *DB) Put(key, value []byte) error {
	b := d.getBatch()
	defer d.putBatch(b)
	if err := b.Put(key, value); err != nil {
		return err
	}
	return d.Write(b)
}

// Merge writes a merge operand for key: Options.Merge folds it into the
// key's value when the key is read and in merges of files, so a counter
// or a list grows with blind writes, never a read before the write. It
// fails with ErrNoMergeOperator if the database has no operator.
func (d *DB) Merge(key, operand []byte) error {
	b := d.getBatch()
	defer d.putBatch(b)
	if err := b.Merge(key, operand); err != nil {
		return err
	}
	return d.Write(b)
}

// Delete removes key. Deleting a missing key is not an error.
func (d *DB) Delete(key []byte) error {
	b := d.getBatch()
	defer d.putBatch(b)
	if err := b.Delete(key); err != nil {
		return err
	}
	return d.Write(b)
}

// DeleteRange removes every key in [start, end) with one write: a range
// tombstone that gets, scans and compactions honour. Evicting an event-time
// window is one call. A nil bound is unbounded, as for Scan; an empty range
// is a no-op.
func (d *DB) DeleteRange(start, end []byte) error {
	b := Batch{maxKey: d.maxKeySize}
	if err := b.DeleteRange(start, end); err != nil {
		return err
	}
	if b.count == 0 {
		return d.checkOpen()
	}
	return d.Write(&b)
}

func (d *DB) checkOpen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return ErrClosed
	}
	return nil
}

// ErrNilBatch is returned by Write for a nil batch.
var ErrNilBatch = errors.New("strata: nil batch")

// ErrBatchInUse is returned by Write when another goroutine is writing the
// same Batch: a Batch is not safe for concurrent use.
var ErrBatchInUse = errors.New("strata: batch is being written by another goroutine")

// Write applies every write of b atomically. With Options.SyncWrites it
// returns after the WAL holding b is fsynced; concurrent writers share one
// fsync (group commit). b may be reused after Write returns. Every key of
// b is checked against this database's MaxKeySize before anything is
// logged, whoever made the batch.
func (d *DB) Write(b *Batch) error { return d.WriteWith(b, WriteOptions{}) }

// WriteOptions control one write.
type WriteOptions struct {
	// Sync makes the write return only after the WAL holding it is
	// fsynced, as every write does under Options.SyncWrites: a store that
	// needs some writes durable at once (a Raft log entry) and others not
	// (the state they produce) keeps both in one database. False leaves
	// it to Options.SyncWrites. An empty batch writes and syncs nothing:
	// Flush makes everything written so far durable.
	Sync bool
}

// WriteWith is Write with options for this write alone.
func (d *DB) WriteWith(b *Batch, o WriteOptions) error {
	if b == nil {
		return ErrNilBatch
	}
	if b.err != nil {
		return b.err
	}
	if d.opts.ReadOnly {
		return ErrReadOnly
	}
	if b.merges && d.opts.Merge == nil {
		return ErrNoMergeOperator
	}
	if b.count == 0 {
		return d.checkOpen()
	}
	if b.maxKeyLen > d.maxKeySize {
		return fmt.Errorf("%w: key of %d bytes (limit %d)", ErrKeyTooLarge, b.maxKeyLen, d.maxKeySize)
	}
	if !b.writing.CompareAndSwap(false, true) {
		return ErrBatchInUse
	}
	defer b.writing.Store(false)
	w := &b.w
	w.batch, w.sync, w.done, w.err = b, d.opts.SyncWrites || o.Sync, false, nil
	w.cond.L = &d.mu
	if !w.sync {
		return d.commitAlone(w)
	}

	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if !d.enterQueueLocked(w) {
		d.mu.Unlock()
		return w.err
	}
	d.gatherLocked()
	d.mu.Unlock()
	d.lockCommit()
	defer d.commitMu.Unlock()
	d.mu.Lock()

	// w leads a group: make room, take seqnums, then write the WAL and the
	// memtable without holding mu while later writers queue up behind.
	err := d.makeRoomForWriteLocked()
	group := d.mu.writers[:1]
	if err == nil {
		size := len(b.data)
		limit := max(maxGroupBytes, 4*size) // see maxGroupBytes
		for _, o := range d.mu.writers[1:] {
			if o.batch == nil || size+len(o.batch.data) > limit {
				break // a barrier (Flush) or a full group
			}
			size += len(o.batch.data)
			group = d.mu.writers[:len(group)+1]
		}
	}
	first := d.mu.lastSeq + 1
	log, mem, seal := d.mu.log, d.mu.mem, d.mu.sealing
	d.mu.Unlock()

	var last base.SeqNum
	if err == nil {
		last, err = d.commitGroup(group, first, log, seal, mem)
	}

	d.mu.Lock()
	err = d.finishCommitLocked(group, last, err)
	for _, o := range group {
		o.done = true
		o.err = err
		if o != w {
			o.cond.Signal()
		}
	}
	d.leaveQueueLocked(len(group))
	d.mu.Unlock()
	return err
}

// A leader of synced writes that finds fewer writers queued than the last
// group held waits, for a fraction of the last fsync at most, for the rest
// to come back (as PostgreSQL's commit_delay and MySQL's
// binlog_group_commit_sync_delay do, but only when the last group shows
// that many writers are about). Without it, concurrent synced writers
// split into alternate small and large groups: the whole last group is
// woken at once, the first of them to queue again leads at once with the
// one or two behind it, and the rest queue during that fsync.
const (
	// gatherShare is the share of the last fsync's time a leader waits.
	gatherShare = 4
	// maxGatherWait bounds the wait whatever the fsyncs take
	// (Options.maxGatherWait).
	maxGatherWait = 100 * time.Microsecond
	// gatherIdleShare: the wait also ends when no writer has come for
	// this share of its length (33 us of 100): the writers of the last
	// group come back microseconds apart when they write in a loop, and
	// writers that do other work between writes may not come back soon.
	gatherIdleShare = 3
)

// gatherLocked waits, as the constants above say, until the commit queue
// holds as many writers as the last synced group committed. Its caller
// leads the queue and does not hold commitMu yet, so unsynced writes go on
// meanwhile; a barrier (Flush, Ingest) that queues behind it ends the
// wait, since the group stops at the barrier anyway. It releases d.mu
// while it waits, yielding the processor to the writers it waits for.
// d.mu is held.
func (d *DB) gatherLocked() {
	want := d.mu.lastGroup
	if want < 2 || len(d.mu.writers) >= want {
		return
	}
	wait := min(time.Duration(d.lastSyncNanos.Load())/gatherShare, d.opts.maxGatherWait)
	start := time.Now()
	lastArrival, seen := start, len(d.mu.writers)
	for len(d.mu.writers) < want && !d.mu.closed {
		now := time.Now()
		for ; seen < len(d.mu.writers); seen++ {
			if d.mu.writers[seen].batch == nil {
				return // a barrier: the group stops there
			}
			lastArrival = now
		}
		if now.Sub(start) >= wait || now.Sub(lastArrival) >= wait/gatherIdleShare {
			return
		}
		d.mu.Unlock()
		runtime.Gosched()
		d.mu.Lock()
	}
}

// commitAlone commits w, an unsynced write, by itself: it holds commitMu,
// which serializes every commit, for the microseconds of a WAL append and
// a memtable insert, and takes no place in the commit queue. Synced
// writes group in the queue to share an fsync; an unsynced one has no
// fsync to share, and waiting in the queue for a leader to commit it cost
// more than committing it: a goroutine woken from a park runs on its
// waker's processor only when the waker yields it, and a leader goes
// straight on with its caller's work (gets served from the cache, say)
// without yielding, so with every processor busy, woken writers waited
// milliseconds for commits that took microseconds.
func (d *DB) commitAlone(w *writer) error {
	d.lockCommit()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.mu.committing++
	err := d.makeRoomForWriteLocked()
	first := d.mu.lastSeq + 1
	log, mem, seal := d.mu.log, d.mu.mem, d.mu.sealing
	d.mu.Unlock()

	group := [1]*writer{w}
	var last base.SeqNum
	if err == nil {
		last, err = d.commitGroup(group[:], first, log, seal, mem)
	}
	d.mu.Lock()
	err = d.finishCommitLocked(group[:], last, err)
	d.mu.committing--
	if d.mu.closed && d.mu.committing == 0 {
		d.bgCond.Broadcast() // the flush goroutine may stop now
	}
	d.mu.Unlock()
	return err
}

// finishCommitLocked publishes a committed group whose last seqnum is
// last, or, if err says the commit failed, stops later writes as err
// requires. It returns the error the group's writers report. d.mu is held.
func (d *DB) finishCommitLocked(group []*writer, last base.SeqNum, err error) error {
	if err != nil {
		return d.stopWritesLocked(err)
	}
	d.mu.lastSeq = last
	d.visibleSeq.Store(uint64(last))
	synced := 0
	for _, o := range group {
		d.mu.stats.walBytes += uint64(len(o.batch.data)) + 8
		d.mu.stats.userBytes += uint64(o.batch.userBytes)
		if o.sync {
			synced++
		}
	}
	if synced > 0 {
		d.mu.stats.walSyncs++
		d.mu.stats.syncedWrites += uint64(synced)
		d.mu.lastGroup = synced
	}
	return nil
}

// maxCommitSpin bounds how long lockCommit spins before it parks: many
// times a commit of an unsynced batch, far less than a synced group's
// fsync or a stalled write.
const maxCommitSpin = 50 * time.Microsecond

// lockCommit takes commitMu, spinning on TryLock while the holder is
// likely still appending: a writer that parks in Lock waits, once woken,
// until the goroutine that woke it yields its processor.
func (d *DB) lockCommit() {
	if d.commitMu.TryLock() {
		return
	}
	if d.spinCommits {
		start := time.Now()
		for i := 1; ; i++ {
			if d.commitMu.TryLock() {
				return
			}
			if i%64 == 0 && time.Since(start) > maxCommitSpin {
				break
			}
		}
	}
	d.commitMu.Lock()
}

// enterQueueLocked appends w to the commit queue and waits until w leads
// it (true) or a leader has committed w with its group (false, w.err
// holds the result). d.mu is held.
func (d *DB) enterQueueLocked(w *writer) bool {
	d.mu.writers = append(d.mu.writers, w)
	for !w.done && d.mu.writers[0] != w {
		w.cond.Wait()
	}
	return !w.done
}

// leaveQueueLocked removes the leader's group of n from the queue and
// wakes the next leader or, once the queue is empty after Close began,
// everyone waiting for it to drain. Not before: waking the background
// goroutines after every lone write had them run their pickers, and take
// the processor the next writer was woken on. d.mu is held.
func (d *DB) leaveQueueLocked(n int) {
	// Shift the queue down rather than reslice it, so that its array is
	// reused: reslicing from the front used up the capacity and made every
	// lone writer's append allocate a new array.
	k := copy(d.mu.writers, d.mu.writers[n:])
	clear(d.mu.writers[k:])
	d.mu.writers = d.mu.writers[:k]
	if len(d.mu.writers) > 0 {
		d.mu.writers[0].cond.Signal()
	} else if d.mu.closed {
		d.bgCond.Broadcast()
	}
}

// commitGroup logs and applies a group of batches taking seqnums from
// first on. It runs without d.mu; only the holder of commitMu calls it. A
// group with a synced write returns once log is synced and seal, the
// sealing of the WAL before log, is done: a write is durable only if every
// write before it is, and the next record, which records the sync in log
// (a sync marker), comes from a later group.
func (d *DB) commitGroup(group []*writer, first base.SeqNum, log *wal.Writer, seal *walSeal, mem *memtable.Memtable) (base.SeqNum, error) {
	seq := first
	doSync := false
	for _, w := range group {
		if err := log.WriteRecord(w.batch.encoded(seq)); err != nil {
			return 0, fmt.Errorf("write WAL: %w", err)
		}
		seq += base.SeqNum(w.batch.count)
		doSync = doSync || w.sync
	}
	if seq-1 > base.MaxSeqNum {
		return 0, fmt.Errorf("sequence numbers exhausted")
	}
	var err error
	if doSync {
		start := time.Now()
		err = log.Sync()
		d.lastSyncNanos.Store(int64(time.Since(start)))
		if err == nil && seal != nil {
			err = seal.wait()
			if err == nil && !log.Marked() {
				// The first synced write into this WAL: end it with a
				// marker for that sync before the write is acknowledged,
				// so the WAL itself proves the older ones were sealed.
				// Recovery then calls damage in them corruption, and
				// never cuts it off with this write.
				err = log.Seal()
			}
		}
	} else if !log.WritesBehind() {
		err = log.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("sync WAL: %w", err)
	}
	seq = first
	for _, w := range group {
		err := decodeBatch(w.batch.data, func(e batchEntry) error {
			d.addToMemtable(mem, e)
			return nil
		})
		if err != nil {
			return 0, err
		}
		seq += base.SeqNum(w.batch.count)
	}
	return seq - 1, nil
}

// stallFailsAfter is how long a writer stalled behind failing background
// work waits before its write fails (retryably). Shorter, and one
// transient error would fail writes that a retry 10 ms later would have
// let through; without it, a writer would wait as long as the disk stays
// full, learning nothing.
const stallFailsAfter = time.Second

// makeRoomForWriteLocked rotates a full memtable to the flush queue and
// starts a new WAL for its successor; when too many memtables wait for a
// flush, or level 0 holds too many runs, it stalls the writer until the
// background catches up, or fails the write if the flushes or compactions it
// waits for have been failing for stallFailsAfter. d.mu is held.
func (d *DB) makeRoomForWriteLocked() error {
	var stallStart time.Time
	bgErrors := d.mu.stats.backgroundErrors
	stall := func() error {
		if stallStart.IsZero() {
			stallStart = time.Now()
			d.mu.stalledWriters++
			d.kickRetriesLocked() // a failed job waiting to retry: try now
		}
		if d.mu.stats.backgroundErrors > bgErrors && time.Since(stallStart) >= stallFailsAfter {
			return retryable{fmt.Errorf("strata: write stalled %v behind failing background work: %w",
				time.Since(stallStart).Round(time.Millisecond), d.mu.lastBackgroundErr)}
		}
		d.bgCond.Wait()
		return nil
	}
	defer func() {
		if !stallStart.IsZero() {
			d.mu.stalledWriters--
			d.mu.stats.stallTime += time.Since(stallStart)
			d.mu.stats.stalls++
		}
	}()
	slowed := false
	for {
		if d.mu.writeErr != nil {
			return d.mu.writeErr
		}
		l0 := d.mu.version.NumRuns(0)
		if l0 >= d.opts.L0StopTrigger && !d.mu.closed {
			// Compactions are far behind: wait for them rather than let level 0
			// (and every read) grow without bound.
			if err := stall(); err != nil {
				return err
			}
			continue
		}
		if l0 >= d.opts.L0SlowdownTrigger && !slowed && !d.mu.closed {
			// Give the compactions a millisecond of this writer's time.
			slowed = true
			d.mu.stats.slowdowns++
			d.mu.Unlock()
			time.Sleep(time.Millisecond)
			d.mu.Lock()
			continue
		}
		if d.mu.mem.ApproximateSize() < d.opts.MemtableSize {
			return nil
		}
		if len(d.mu.imms) >= d.opts.MaxImmutableMemtables {
			if err := stall(); err != nil {
				return err
			}
			continue
		}
		if err := d.rotateMemtableLocked(); err != nil {
			return err
		}
	}
}

// rotateMemtableLocked moves mem to the flush queue and opens a new WAL;
// the old one is sealed when needed (walSeal). A failure to create the new WAL
// (a full disk) leaves the old one in use and is retryable: the next write
// tries again.
//
// Only the holder of commitMu calls it, so no other write touches the log
// or the memtable meanwhile: d.mu is released for the file I/O, and
// readers, snapshots and the background never wait behind it. d.mu is
// held on entry and exit.
func (d *DB) rotateMemtableLocked() error {
	old, num := d.mu.log, d.mu.nextFileNum
	d.mu.nextFileNum++
	name := base.MakeFilename(base.FileTypeLog, num)
	d.mu.Unlock()
	if old.WritesBehind() {
		// The old WAL's queued records reach the file before any of the
		// new one's can: else a crash could keep later writes and lose
		// earlier ones, where recovery must find a prefix of the writes.
		if err := old.Flush(); err != nil {
			d.mu.Lock()
			return fmt.Errorf("write WAL: %w", err)
		}
	}
	f, err := d.fs.Create(d.path(name))
	d.mu.Lock()
	if err != nil {
		return retryable{fmt.Errorf("create WAL %s: %w", name, err)}
	}
	d.failpoint(fpWALRotated)
	seal := &walSeal{d: d, log: old, prev: d.mu.sealing, done: make(chan struct{})}
	if old.Marked() {
		// The WAL took synced writes, so it is mostly on disk already and
		// the next synced write would wait for its seal: seal it now,
		// beside the writes going on into the new WAL.
		go seal.wait()
	}
	d.mu.imms = append(d.mu.imms, &flushable{mem: d.mu.mem, logNum: d.mu.logNum, lastSeq: d.mu.lastSeq, seal: seal})
	d.mu.log = d.newWALWriter(f)
	d.mu.log.TakeBuffers(old)
	d.mu.logNum = num
	d.mu.sealing = seal
	d.mu.mem = memtable.NewPooled(d.chunks)
	d.installReadStateLocked()
	d.maybeScheduleBackgroundLocked()
	return nil
}

// walSeal is the sealing of a WAL that a newer one replaced, done at the
// switch if the WAL took synced writes, and otherwise only when something
// needs it: a synced write into a newer WAL (commitGroup) or Close. A WAL
// whose memtable is flushed before then is dropped unsynced (drop): its
// writes are in a synced SST, and an unsynced write promises nothing
// across a power cut, so syncing it would only write every unsynced byte
// twice. done is closed when the seal or the drop ends, err then says how.
type walSeal struct {
	d    *DB
	log  *wal.Writer // the WAL to seal
	prev *walSeal    // the seal of the WAL before it, nil if none
	once sync.Once   // runs the seal or the drop, whichever comes first
	done chan struct{}
	err  error
}

// wait seals the WAL, and every older one first, unless that has begun
// or it was dropped, and returns the seal's error.
func (s *walSeal) wait() error {
	s.once.Do(s.seal)
	<-s.done
	return s.err
}

// drop closes the WAL without syncing it, once the flush of its memtable
// is durable, unless its seal has begun; then it waits for the seal. A
// synced write into a newer WAL relies on a finished seal for that WAL's
// directory entry, so drop syncs the directory as the seal does, unless
// dirSynced says the flush synced it (for its SST, created after the
// newer WAL).
func (s *walSeal) drop(dirSynced bool) {
	s.once.Do(func() {
		s.prev = nil // done: dropped in flush order, after every older one
		s.log.Abandon()
		s.log = nil
		if !dirSynced {
			if err := s.d.fs.SyncDir(s.d.dirname); err != nil {
				s.err = fmt.Errorf("sync dir: %w", err)
			}
		}
		close(s.done)
		if s.err != nil {
			s.d.mu.Lock()
			s.d.stopWritesLocked(s.err)
			s.d.mu.Unlock()
		}
	})
	<-s.done
}

// seal waits for the seal of the WAL before, then syncs the WAL, ends it
// with a sync marker for that sync and syncs again (wal.Writer.Seal),
// makes the newer WAL's directory entry durable and closes the WAL. d.mu
// is not held.
//
// Recovery relies on the order this keeps: a newer WAL's first sync is
// acknowledged (commitGroup) and recorded only after the WALs before it
// are sealed. An older WAL with a torn tail is therefore a crash before or
// during its seal when no newer WAL records a sync, and corruption
// otherwise (replayWALs). A failed seal stops writes: the bytes it could
// not sync may be lost.
func (s *walSeal) seal() {
	var err error
	if s.prev != nil {
		err = s.prev.wait()
	}
	d, old := s.d, s.log
	s.prev, s.log = nil, nil // so that a chain of seals does not keep every WAL
	if err != nil {
		// An older WAL may end torn: this one must not say it was synced.
		old.Abandon()
	} else {
		if err = old.Seal(); err != nil {
			err = fmt.Errorf("seal WAL: %w", err)
		} else if err = d.fs.SyncDir(d.dirname); err != nil {
			err = fmt.Errorf("sync dir: %w", err)
		}
		if cerr := old.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close WAL: %w", cerr)
		}
	}
	s.err = err
	close(s.done)
	if err != nil {
		d.mu.Lock()
		d.stopWritesLocked(err)
		d.mu.Unlock()
	}
}

// retryable wraps a write-path failure that left the WAL as it was (the
// next WAL could not be created): it fails the writes that met it but does
// not stop later ones.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// stopWritesLocked records err, met on the write path, as the error that
// stops every later write, unless it is retryable, and returns the error
// the caller reports. d.mu is held.
func (d *DB) stopWritesLocked(err error) error {
	var r retryable
	if errors.As(err, &r) {
		return r.err
	}
	if d.mu.writeErr == nil {
		d.mu.writeErr = fmt.Errorf("%w: %v", ErrWritesStopped, err)
	}
	return d.mu.writeErr
}

// addToMemtable adds one decoded write to mem. A range deletion with no end
// gets this database's unbounded end, a key one byte longer than the
// longest key it accepts, all 0xff: it sorts after every key.
func (d *DB) addToMemtable(mem *memtable.Memtable, e batchEntry) {
	if e.kind == base.KindRangeDelete && len(e.value) == 0 {
		e.value = d.unboundedEnd
	}
	mem.Add(e.seq, e.kind, e.key, e.value)
}

// newWALWriter returns the writer of a new WAL file f: through a mapping
// where the filesystem allows it, or from a goroutine of its own with
// Options.WALWriteBehind (unless every write is synced), recording its
// syncs so that recovery can tell a crash's unsynced tail from damage to
// synced bytes.
func (d *DB) newWALWriter(f vfs.File) *wal.Writer {
	var w *wal.Writer
	if d.opts.WALWriteBehind && !d.opts.SyncWrites {
		w = wal.NewWriteBehindWriter(f)
	} else {
		w = wal.NewMappedWriter(f)
	}
	w.MarkSyncs()
	return w
}
