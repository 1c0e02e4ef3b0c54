package db

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/seed-d6fe07da/strata/cache"
	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/manifest"
	"github.com/seed-d6fe07da/strata/memtable"
	"github.com/seed-d6fe07da/strata/sst"
	"github.com/seed-d6fe07da/strata/vfs"
	"github.com/seed-d6fe07da/strata/wal"
)

// Open opens the database in dir, creating dir and an empty database if
// needed. A nil opts means defaults.
//
// Recovery: Open reads CURRENT and the manifest it names to learn the live
// SSTs, replays every WAL not yet flushed into a memtable (a torn record at
// the tail of the newest WAL is dropped: it was never acknowledged as
// synced), flushes that memtable to a new SST, starts a fresh WAL and
// removes files that no manifest names (garbage from a crash).
func Open(dir string, opts *Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.ensureDefaults()
	d := &DB{dirname: dir, opts: o, fs: o.FS, spinCommits: runtime.GOMAXPROCS(0) > 1}
	d.bgCond = sync.NewCond(&d.mu)
	d.chunks = memtable.NewChunkPool(o.MemtableSize)
	d.closeCh = make(chan struct{})
	d.mu.retryKick = make(chan struct{})
	d.obsolete.wake = make(chan struct{}, 1)
	d.reads.runs.wake.Store(math.MaxInt64) // armed by the compaction goroutine
	d.reads.levels.wake.Store(math.MaxInt64)
	d.pickerOpts = lsm.PickerOptions{
		SizeRatio:       o.SizeRatio,
		RunsPerLevel:    o.RunsPerLevel,
		RunsAtLastLevel: o.RunsAtLastLevel,
		L0Trigger:       o.L0CompactionTrigger,
		BaseLevelSize:   uint64(o.MemtableSize) * uint64(o.L0CompactionTrigger),
	}
	d.picker = lsm.NewPicker(d.pickerOpts)
	if !o.ReadOnly {
		if err := d.fs.MkdirAll(dir); err != nil {
			return nil, fmt.Errorf("strata: open %s: %w", dir, err)
		}
		// Make the directory's own entry durable, in case MkdirAll
		// created it.
		if err := d.fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("strata: sync parent of %s: %w", dir, err)
		}
		lock, err := d.fs.Lock(d.path("LOCK"))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
		}
		d.lock = lock
	}
	if err := d.recover(); err != nil {
		if d.tables != nil {
			d.tables.closeAll()
		}
		if d.mu.log != nil {
			d.mu.log.Close()
		}
		if d.manifest != nil {
			d.manifest.Close()
		}
		if d.cache != nil {
			d.cache.Close()
		}
		if d.lock != nil {
			d.lock.Close()
		}
		d.chunks.Close()
		return nil, err
	}
	if o.ReadOnly {
		return d, nil // no background work: the tree never changes
	}
	d.bgWG.Add(4)
	go d.flushLoop()
	go d.compactLoop()
	go d.level0Loop()
	go d.deleterLoop()
	d.mu.Lock()
	d.maybeScheduleBackgroundLocked()
	d.mu.Unlock()
	return d, nil
}

// recover loads the manifest, replays WALs and starts the new WAL.
func (d *DB) recover() error {
	names, err := d.fs.List(d.dirname)
	if err != nil {
		return fmt.Errorf("strata: list %s: %w", d.dirname, err)
	}
	var state *manifest.State
	var manifestNum base.FileNum
	_, curErr := manifest.ReadCurrent(d.fs, d.dirname)
	switch {
	case curErr == nil:
		state, manifestNum, err = manifest.Recover(d.fs, d.dirname)
		if err != nil {
			return fmt.Errorf("strata: recover manifest: %w", err)
		}
	case errors.Is(curErr, fs.ErrNotExist) && d.opts.ReadOnly:
		return fmt.Errorf("strata: open %s read-only: no database here (no CURRENT file): %w", d.dirname, curErr)
	case errors.Is(curErr, fs.ErrNotExist):
		for _, n := range names {
			if t, _ := base.ParseFilename(n); t == base.FileTypeTable || t == base.FileTypeLog {
				return fmt.Errorf("%w: %s holds %s but no CURRENT file", ErrCorruption, d.dirname, n)
			}
		}
		state = manifest.NewState()
		if err := state.Apply(&manifest.VersionEdit{NextFileNum: 2, PageSize: uint64(d.opts.PageSize)}); err != nil {
			return err
		}
		manifestNum = 1
		w, err := manifest.Create(d.fs, d.dirname, manifestNum, state.Snapshot())
		if err != nil {
			return fmt.Errorf("strata: create manifest: %w", err)
		}
		d.manifest = w
	default:
		return fmt.Errorf("strata: read CURRENT: %w", curErr)
	}
	if err := d.setPageSize(d.pageSizeOf(state)); err != nil {
		return err
	}
	d.mu.nextFileNum = state.NextFileNum
	if d.mu.nextFileNum <= manifestNum {
		d.mu.nextFileNum = manifestNum + 1
	}
	d.mu.lastSeq = state.LastSeq
	v, err := lsm.FromState(state, d.fileObsolete)
	if err != nil {
		return fmt.Errorf("%w: manifest: %v", ErrCorruption, err)
	}
	d.mu.version = v

	// Replay WALs at or after LogNum, oldest first.
	var logs []base.FileNum
	for _, n := range names {
		if t, num := base.ParseFilename(n); t == base.FileTypeLog && num >= state.LogNum {
			logs = append(logs, num)
		}
		if t, num := base.ParseFilename(n); num >= d.mu.nextFileNum && t != base.FileTypeUnknown {
			d.mu.nextFileNum = num + 1
		}
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i] < logs[j] })
	if d.opts.ReadOnly {
		// A writer beside us removes a WAL once its writes are flushed:
		// hold every one listed before reading any.
		d.walFiles = make(map[base.FileNum]vfs.File, len(logs))
		defer func() {
			for _, f := range d.walFiles {
				f.Close()
			}
			d.walFiles = nil
		}()
		for _, num := range logs {
			f, err := d.openWALFile(num)
			if err != nil {
				return err
			}
			d.walFiles[num] = f
		}
	}
	// WALs at the end that hold no record (a switch whose directory sync
	// failed removes the new WAL, but the removal may not survive a crash)
	// do not make the WAL before them an older one.
	newest := len(logs) - 1
	for newest > 0 {
		holds, err := d.walHoldsRecords(logs[newest])
		if err != nil {
			return err
		}
		if holds {
			break
		}
		newest--
	}
	mem := memtable.NewPooled(d.chunks)
	for i, num := range logs {
		// A torn tail in a WAL that a newer one follows is a crash
		// before or during its seal when no newer WAL records a sync (walSeal).
		laterSynced := func() (bool, error) {
			for _, later := range logs[i+1 : newest+1] {
				if synced, err := d.walRecordsSync(later); synced || err != nil {
					return synced, err
				}
			}
			return false, nil
		}
		cut, stop, err := d.replayWAL(num, mem, i >= newest, laterSynced)
		if err != nil {
			return err
		}
		if cut >= 0 {
			if err := d.cutWALs(logs[i], cut, logs[i+1:]); err != nil {
				return err
			}
			break
		}
		if stop {
			// WALSalvage: the database opens as of the damaged record;
			// later WALs are dropped with it.
			for _, later := range logs[i+1:] {
				name := base.MakeFilename(base.FileTypeLog, later)
				if size, err := d.fs.Stat(d.path(name)); err == nil {
					d.recovery.DroppedBytes += size
				}
			}
			break
		}
	}

	if d.opts.ReadOnly {
		// The replayed writes stay in memory; nothing is written.
		d.mu.mem = mem
		d.visibleSeq.Store(uint64(d.mu.lastSeq))
		d.mu.flushedSeq = state.LastSeq
		d.installReadStateLocked()
		return nil
	}

	// Open a new manifest (compacting the old log into one snapshot) when
	// recovering an existing database, so no torn tail is appended to.
	if d.manifest == nil {
		manifestNum = d.mu.nextFileNum
		d.mu.nextFileNum++
		snap := state.Snapshot()
		snap.NextFileNum = d.mu.nextFileNum
		snap.PageSize = uint64(d.opts.PageSize)
		w, err := manifest.Create(d.fs, d.dirname, manifestNum, snap)
		if err != nil {
			return fmt.Errorf("strata: create manifest: %w", err)
		}
		d.manifest = w
	}

	// Start the new WAL before the edit that makes the old ones obsolete.
	d.mu.logNum = d.mu.nextFileNum
	d.mu.nextFileNum++
	lf, err := d.fs.Create(d.path(base.MakeFilename(base.FileTypeLog, d.mu.logNum)))
	if err != nil {
		return fmt.Errorf("strata: create WAL: %w", err)
	}
	d.mu.log = d.newWALWriter(lf)
	if err := d.fs.SyncDir(d.dirname); err != nil {
		return fmt.Errorf("strata: sync %s: %w", d.dirname, err)
	}

	edit := &manifest.VersionEdit{LogNum: d.mu.logNum, LastSeq: d.mu.lastSeq}
	defer mem.Unref() // written to level 0 or not, nothing reads it after recovery
	if !mem.Empty() {
		meta, err := d.writeL0(mem)
		if err != nil {
			return err
		}
		if meta != nil {
			edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: 0, Meta: *meta})
		}
	}
	edit.NextFileNum = d.mu.nextFileNum
	if err := d.manifest.Append(edit); err != nil {
		return fmt.Errorf("strata: write manifest: %w", err)
	}
	nv, err := d.mu.version.Apply(edit)
	if err != nil {
		return fmt.Errorf("strata: apply recovery edit: %w", err)
	}
	d.mu.version.Unref()
	d.mu.version = nv
	d.visibleSeq.Store(uint64(d.mu.lastSeq))
	d.mu.flushedSeq = d.mu.lastSeq
	d.mu.mem = memtable.NewPooled(d.chunks)
	d.installReadStateLocked()

	d.removeGarbage(manifestNum)
	return nil
}

// pageSizeOf returns the page size of the database whose manifest state
// is s: the one it records, else (a manifest written before it was
// recorded) that of any live SST, else Options.PageSize (a new database,
// or one whose data is all in WALs).
func (d *DB) pageSizeOf(s *manifest.State) int {
	if s.PageSize != 0 {
		return int(s.PageSize)
	}
	for level := 0; level < s.NumLevels(); level++ {
		for _, m := range s.Files(level) {
			name := base.MakeFilename(base.FileTypeTable, m.FileNum)
			f, err := d.fs.Open(d.path(name))
			if err != nil {
				continue
			}
			ps, err := sst.PageSizeOf(f, name)
			f.Close()
			if err == nil {
				return ps
			}
		}
	}
	return d.opts.PageSize
}

// setPageSize fixes the database's page size, which Options.PageSize
// chooses only for a new database, and builds what depends on it: the key
// limit and the buffer pool.
func (d *DB) setPageSize(ps int) error {
	o := d.opts
	if !(ps >= sst.MinPageSize && ps <= sst.MaxPageSize && ps&(ps-1) == 0) {
		return fmt.Errorf("%w: manifest: page size %d", ErrCorruption, ps)
	}
	o.PageSize = ps
	d.maxKeySize = sst.MaxKeySize(ps)
	d.unboundedEnd = bytes.Repeat([]byte{0xff}, d.maxKeySize+1)
	policy := cache.Policy2Q
	if o.Experimental.CachePolicy == CacheLRU {
		policy = cache.PolicyLRU
	}
	d.cache = cache.New(cache.Options{Capacity: o.CacheSize, PageSize: ps, Policy: policy})
	d.tables = newTableCache(d.fs, d.dirname, d.cache)
	d.tables.direct = o.DirectIO
	if o.Experimental.BinarySearchLeaves {
		d.tables.search = sst.SearchLeafBinary
	}
	return nil
}

// replayWAL applies the records of WAL num to mem, stopping at the first
// damaged record (torn, zeroed, failing its checksum or its decoding), if
// any. Damage that no later sync marker of the WAL shows was synced is a
// crash's unsynced tail when the WAL is the newest, or when laterSynced
// says no newer WAL records a sync (a crash before or during its seal):
// replayWAL returns the offset to cut it at (cut, else -1), and recovery
// stops there. Other damage is corruption, unless Options.WALSalvage asks
// to stop there (stop true: later WALs are not replayed).
func (d *DB) replayWAL(num base.FileNum, mem *memtable.Memtable, newest bool, laterSynced func() (bool, error)) (cut int64, stop bool, err error) {
	name := base.MakeFilename(base.FileTypeLog, num)
	f, release, err := d.openWAL(num)
	if err != nil {
		return -1, false, err
	}
	defer release()
	d.recovery.WALs++
	r := wal.NewReader(f, name)
	for attempt := 1; ; attempt++ {
		cut, stop, retry, err := d.replayFrom(r, name, f, mem, newest, laterSynced, attempt)
		if !retry {
			return cut, stop, err
		}
		// Read-only beside a live writer, the damage may be a record it
		// was appending as we read it, and the marker that seems to make
		// it synced one it wrote since: read on from it again.
		time.Sleep(time.Millisecond)
		r.Resume()
	}
}

// readOnlyRereads is how many times a read-only replay reads a damaged
// record again before calling it corruption (see replayWAL).
const readOnlyRereads = 3

// replayFrom applies records from r to mem, as replayWAL describes, and
// returns replayWAL's results; retry asks for r to be read again from the
// damaged record, which a read-only replay does readOnlyRereads times
// before it calls damage before synced bytes corruption.
func (d *DB) replayFrom(r *wal.Reader, name string, f vfs.File, mem *memtable.Memtable, newest bool, laterSynced func() (bool, error), attempt int) (cut int64, stop, retry bool, err error) {
	var damage error
	for damage == nil {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				return -1, false, false, fmt.Errorf("strata: replay %s: %w", name, err)
			}
			damage = err
			break
		}
		// Decode the whole batch before applying any of it: a record
		// whose checksum holds but whose batch does not decode is damage
		// too, and it must not be applied in part.
		if err := decodeBatch(rec, nil); err != nil {
			damage = base.Corruptf(name, fmt.Sprintf("offset %d", r.ValidLen()), "%v", err)
			break
		}
		decodeBatch(rec, func(e batchEntry) error {
			d.addToMemtable(mem, e)
			d.mu.lastSeq = max(d.mu.lastSeq, e.seq)
			return nil
		})
		d.recovery.Records++
	}
	if damage == nil && !r.TornTail() {
		return -1, false, false, nil
	}
	bad := r.ValidLen()
	if damage == nil {
		damage = base.Corruptf(name, fmt.Sprintf("offset %d", bad), "torn record")
	}
	tail, err := wal.ScanTail(f, bad)
	if err != nil {
		return -1, false, false, fmt.Errorf("strata: replay %s: %w", name, err)
	}
	why := fmt.Sprintf("a sync marker at offset %d shows the bytes up to %d had been synced", tail.Marker, tail.Synced)
	if tail.Synced <= bad {
		// Nothing after the last sync was promised, unless a newer WAL
		// shows this one had been sealed.
		synced := false
		if !newest {
			if synced, err = laterSynced(); err != nil {
				return -1, false, false, err
			}
		}
		if !synced {
			d.recovery.DroppedBytes += tail.End - bad
			d.recovery.Damage = damage.Error()
			return bad, false, false, nil
		}
		why = "a newer WAL records a sync, so this one had been sealed"
	}
	if d.opts.ReadOnly && attempt <= readOnlyRereads {
		return -1, false, true, nil
	}
	if d.opts.WALSalvage {
		d.recovery.DroppedBytes += tail.End - bad
		d.recovery.Damage = fmt.Sprintf("%v (%s); salvaged: replay stopped there", damage, why)
		return -1, true, false, nil
	}
	return -1, false, false, fmt.Errorf("%w; %s (Options.WALSalvage opens the database as of the last good record before it, dropping the rest)", damage, why)
}

// cutWALs drops a crash's unsynced tail: WAL num from offset off on, and
// the newer WALs later (which hold no synced write: see replayWAL). The
// newer ones are emptied first, each synced, so that a recovery that
// fails half-way leaves the torn WAL to be found again, never a newer
// record replayed without the older ones. Read-only, nothing is written.
func (d *DB) cutWALs(num base.FileNum, off int64, later []base.FileNum) error {
	for _, l := range later {
		if tail, err := d.scanWAL(l); err == nil {
			d.recovery.DroppedBytes += tail.End
		}
	}
	if d.opts.ReadOnly {
		return nil
	}
	for i := len(later) - 1; i >= 0; i-- {
		if err := d.truncateWAL(base.MakeFilename(base.FileTypeLog, later[i]), 0); err != nil {
			return err
		}
	}
	return d.truncateWAL(base.MakeFilename(base.FileTypeLog, num), off)
}

// walRecordsSync reports whether WAL num holds a sync marker: read record
// by record up to its end or first damage, so that a value holding bytes
// that look like a marker does not count.
func (d *DB) walRecordsSync(num base.FileNum) (bool, error) {
	name := base.MakeFilename(base.FileTypeLog, num)
	f, release, err := d.openWAL(num)
	if err != nil {
		return false, err
	}
	defer release()
	r := wal.NewReader(f, name)
	for {
		if _, err := r.Next(); err != nil {
			if err != io.EOF && !errors.Is(err, ErrCorruption) {
				return false, fmt.Errorf("strata: read WAL %s: %w", name, err)
			}
			return r.SyncedTo() > 0, nil
		}
	}
}

// scanWAL reads WAL num whole with wal.ScanTail: End is its length up to
// its last non-zero byte (a mapped writer's unused window of zeros is not
// data).
func (d *DB) scanWAL(num base.FileNum) (wal.Tail, error) {
	name := base.MakeFilename(base.FileTypeLog, num)
	f, release, err := d.openWAL(num)
	if err != nil {
		return wal.Tail{}, err
	}
	defer release()
	tail, err := wal.ScanTail(f, 0)
	if err != nil {
		return wal.Tail{}, fmt.Errorf("strata: read WAL %s: %w", name, err)
	}
	return tail, nil
}

// walHoldsRecords reports whether WAL num holds a record, or a sync marker
// showing that bytes of it had been synced.
func (d *DB) walHoldsRecords(num base.FileNum) (bool, error) {
	name := base.MakeFilename(base.FileTypeLog, num)
	f, release, err := d.openWAL(num)
	if err != nil {
		return false, err
	}
	defer release()
	if _, err := wal.NewReader(f, name).Next(); err == nil {
		return true, nil
	} else if err != io.EOF && !errors.Is(err, ErrCorruption) {
		return false, fmt.Errorf("strata: read WAL %s: %w", name, err)
	}
	tail, err := wal.ScanTail(f, 0)
	if err != nil {
		return false, fmt.Errorf("strata: read WAL %s: %w", name, err)
	}
	return tail.Synced > 0, nil
}

// truncateWAL cuts WAL name at off and syncs it.
func (d *DB) truncateWAL(name string, off int64) error {
	f, err := d.fs.OpenReadWrite(d.path(name))
	if err != nil {
		return fmt.Errorf("strata: cut the damaged tail of %s: %w", name, err)
	}
	err = f.Truncate(off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("strata: cut the damaged tail of %s at offset %d: %w", name, off, err)
	}
	return nil
}

// removeGarbage deletes files no manifest names: SSTs outside the version,
// WALs before the current one, old manifests and temporary files.
func (d *DB) removeGarbage(manifestNum base.FileNum) {
	names, err := d.fs.List(d.dirname)
	if err != nil {
		return
	}
	live := make(map[base.FileNum]bool)
	for _, f := range d.mu.version.Files() {
		live[f.FileNum] = true
	}
	for _, n := range names {
		t, num := base.ParseFilename(n)
		remove := false
		switch t {
		case base.FileTypeTable:
			remove = !live[num]
		case base.FileTypeLog:
			remove = num < d.mu.logNum
		case base.FileTypeManifest:
			remove = num != manifestNum
		case base.FileTypeTemp:
			remove = true
		}
		if remove {
			if err := d.fs.Remove(d.path(n)); err != nil {
				d.mu.stats.obsoleteFilesRemoveErrors++
			}
		}
	}
}

// openWAL opens WAL num for reading and returns it with the function that
// releases it: during a read-only Open, the handle taken before replay.
func (d *DB) openWAL(num base.FileNum) (vfs.File, func(), error) {
	if f, ok := d.walFiles[num]; ok {
		return f, func() {}, nil
	}
	f, err := d.openWALFile(num)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// openWALFile opens WAL num for reading.
func (d *DB) openWALFile(num base.FileNum) (vfs.File, error) {
	name := base.MakeFilename(base.FileTypeLog, num)
	f, err := d.fs.Open(d.path(name))
	if err != nil {
		return nil, fmt.Errorf("strata: open WAL %s: %w", name, err)
	}
	return f, nil
}
