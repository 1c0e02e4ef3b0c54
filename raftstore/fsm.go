package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/seed-d6fe07da/strata/db"
	"github.com/seed-d6fe07da/strata/vfs"
)

// Names inside an FSM's directory.
const (
	fsmState     = "state"     // the live state database
	fsmStateOld  = "state.old" // the state being replaced by Restore
	fsmRestore   = "restore"   // a snapshot being unpacked by Restore
	fsmSnapshots = "snapshots" // checkpoints of snapshots not yet released
)

// Key prefixes of the state database.
const (
	prefixData = 'd' // 'd' | user key → value
	prefixMeta = 'm' // 'm' | name → value
)

// appliedKey holds the index of the last log entry applied, as 8
// big-endian bytes, written in the same batch as the entry's effect.
var appliedKey = []byte{prefixMeta, 'a', 'p', 'p', 'l', 'i', 'e', 'd'}

// FSM is a raft.FSM (and raft.BatchingFSM) holding a replicated map from
// keys to values in a Strata database of its own, the state database.
// Commands are made by PutCommand and DeleteCommand. Reads (Get,
// AppliedIndex) are safe beside raft's calls; raft calls Apply,
// ApplyBatch, Snapshot and Restore from one goroutine.
type FSM struct {
	dir  string
	fsys vfs.FS
	opts db.Options

	// mu guards d: Restore swaps the database under the write lock,
	// everything else uses it under the read lock.
	mu sync.RWMutex
	d  *db.DB
	// failed holds the error of a failed state write: the state no longer
	// follows the log, so Apply, Snapshot and Get return it until the FSM
	// is reopened (raft then rebuilds the state from its snapshot and
	// log) or a Restore replaces the state.
	failed atomic.Pointer[error]

	applied  atomic.Uint64 // index of the last entry applied
	restores atomic.Int64  // Restore calls that succeeded
	snapSeq  atomic.Uint64 // names snapshot checkpoints
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// OpenFSM opens (creating if needed) the FSM whose files live in dir. opts
// configures the state database as for db.Open (nil for defaults); its
// writes are not synced unless opts says so, because raft's log and
// snapshots, not the state database, are what survives a power cut (see
// the package comment).
func OpenFSM(dir string, opts *db.Options) (*FSM, error) {
	f := &FSM{dir: dir}
	if opts != nil {
		f.opts = *opts
	}
	f.fsys = f.opts.FS
	if f.fsys == nil {
		f.fsys = vfs.Default()
	}
	if err := f.fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("raftstore: open fsm %s: %w", dir, err)
	}
	if err := f.recoverDir(); err != nil {
		return nil, fmt.Errorf("raftstore: open fsm %s: %w", dir, err)
	}
	d, applied, err := f.openState(filepath.Join(dir, fsmState))
	if err != nil {
		return nil, err
	}
	f.d = d
	f.applied.Store(applied)
	return f, nil
}

// recoverDir finishes or undoes what a crash interrupted: a Restore that
// had moved the old state aside but not yet put the new one in place
// goes back to the old state (raft installs the snapshot again or
// replays its log), and leftover unpacked snapshots and checkpoints are
// removed.
func (f *FSM) recoverDir() error {
	state := filepath.Join(f.dir, fsmState)
	old := filepath.Join(f.dir, fsmStateOld)
	if !f.exists(state) && f.exists(old) {
		if err := f.fsys.Rename(old, state); err != nil {
			return err
		}
		if err := f.fsys.SyncDir(f.dir); err != nil {
			return err
		}
	}
	for _, name := range []string{fsmStateOld, fsmRestore, fsmSnapshots} {
		if err := removeTree(f.fsys, filepath.Join(f.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func (f *FSM) exists(path string) bool {
	_, err := f.fsys.Stat(path)
	return err == nil
}

// openState opens the state database in dir and reads its applied index.
func (f *FSM) openState(dir string) (*db.DB, uint64, error) {
	d, err := db.Open(dir, &f.opts)
	if err != nil {
		return nil, 0, fmt.Errorf("raftstore: open fsm state %s: %w", dir, err)
	}
	v, err := d.Get(appliedKey)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return d, 0, nil
	case err != nil:
		d.Close()
		return nil, 0, fmt.Errorf("raftstore: open fsm state %s: %w", dir, err)
	case len(v) != 8:
		d.Close()
		return nil, 0, fmt.Errorf("raftstore: open fsm state %s: %w: applied index of %d bytes", dir, db.ErrCorruption, len(v))
	}
	return d, binary.BigEndian.Uint64(v), nil
}

// Close closes the state database.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.d == nil {
		return nil
	}
	err := f.d.Close()
	f.d = nil
	if err != nil {
		return fmt.Errorf("raftstore: close fsm: %w", err)
	}
	return nil
}

// AppliedIndex returns the index of the last log entry the state holds.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Restores returns how many snapshots Restore has installed since
// OpenFSM (raft restores one at start, and one per InstallSnapshot).
func (f *FSM) Restores() int64 { return f.restores.Load() }

// Get returns the value of key in the replicated map, an error wrapping
// db.ErrNotFound if it has none. It reads this node's state: what a
// follower returns may be behind the leader (use raft.Raft.Barrier or
// VerifyLeader on the leader for a linearizable read).
func (f *FSM) Get(key []byte) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable("get"); err != nil {
		return nil, err
	}
	v, err := f.d.Get(dataKey(key))
	if err != nil {
		return nil, fmt.Errorf("raftstore: fsm get %q: %w", key, err)
	}
	return v, nil
}

// failure returns the error that stopped the FSM, nil if none did.
func (f *FSM) failure() error {
	if p := f.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// usable returns the error that stops op: the one that stopped the FSM,
// or ErrClosed once it is closed; nil if op may go on. f.mu is held.
func (f *FSM) usable(op string) error {
	if err := f.failure(); err != nil {
		return err
	}
	if f.d == nil {
		return fmt.Errorf("raftstore: fsm %s: %w", op, db.ErrClosed)
	}
	return nil
}

func dataKey(k []byte) []byte { return append([]byte{prefixData}, k...) }

// Apply applies one committed entry; see ApplyBatch.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in one unsynced batch together
// with the index of the last one. Entries at or below the applied index
// are skipped: after a restart raft replays entries the state already
// holds. Each response is nil, or an error wrapping ErrBadCommand for
// data that is not a command (the entry is then skipped), or the error of
// a failed write.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable("apply"); err != nil {
		for i := range resp {
			resp[i] = err
		}
		return resp
	}
	applied := f.applied.Load()
	last := applied
	b := f.d.NewBatch()
	for i, l := range logs {
		if l.Index <= applied {
			continue
		}
		last = max(last, l.Index)
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := decodeCommand(l.Data)
		if err != nil {
			resp[i] = fmt.Errorf("raftstore: apply log %d: %w", l.Index, err)
			continue
		}
		switch c.op {
		case opPut:
			err = b.Put(dataKey(c.key), c.value)
		case opDelete:
			err = b.Delete(dataKey(c.key))
		}
		if err != nil { // a key or value past Strata's limits
			resp[i] = fmt.Errorf("raftstore: apply log %d: %w", l.Index, err)
		}
	}
	if last == applied {
		return resp
	}
	if err := b.Put(appliedKey, binary.BigEndian.AppendUint64(nil, last)); err != nil {
		panic(err) // a fixed 9-byte key and 8-byte value always fit
	}
	if err := f.d.Write(b); err != nil {
		// Raft goes on as if the entries were applied; the state cannot
		// follow. Refuse to serve it until the FSM is reopened.
		err = fmt.Errorf("raftstore: apply logs to %d: %w", last, err)
		f.failed.Store(&err)
		for i := range resp {
			resp[i] = err
		}
		return resp
	}
	f.applied.Store(last)
	return resp
}

// Snapshot takes a Strata checkpoint of the state (its tables are hard
// links, so this costs a memtable flush and a manifest), which the
// returned raft.FSMSnapshot writes to raft's sink as a tar stream. Raft
// calls it between applies, so the checkpoint holds exactly the entries
// up to AppliedIndex.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable("snapshot"); err != nil {
		return nil, err
	}
	parent := filepath.Join(f.dir, fsmSnapshots)
	if err := f.fsys.MkdirAll(parent); err != nil {
		return nil, fmt.Errorf("raftstore: fsm snapshot: %w", err)
	}
	dir := filepath.Join(parent, strconv.FormatUint(f.snapSeq.Add(1), 10))
	if _, err := f.d.Checkpoint(dir); err != nil {
		return nil, fmt.Errorf("raftstore: fsm snapshot: %w", err)
	}
	return &fsmSnapshot{fsys: f.fsys, dir: dir}, nil
}

// fsmSnapshot is a checkpoint of the state waiting to be written to a
// snapshot sink.
type fsmSnapshot struct {
	fsys vfs.FS
	dir  string
}

// Persist writes the checkpoint's files to sink as a tar stream.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeArchive(s.fsys, s.dir, sink); err != nil {
		sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	return nil
}

// Release removes the checkpoint.
func (s *fsmSnapshot) Release() {
	removeTree(s.fsys, s.dir) // what remains is removed at the next OpenFSM
}

// Restore replaces the state with the snapshot rc holds: it unpacks the
// archive into a new directory (every file synced), opens it to check it
// is a database, then closes the current state, swaps the directories and
// reopens. The state before the call is kept if anything fails before the
// swap.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := filepath.Join(f.dir, fsmRestore)
	if err := removeTree(f.fsys, tmp); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := f.unpack(rc, tmp); err != nil {
		return err
	}
	// Open the unpacked checkpoint once before the swap: a snapshot that
	// is not a database fails here, with the old state still in place.
	d, _, err := f.openState(tmp)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w: %w", ErrBadSnapshot, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.d != nil {
		if err := f.d.Close(); err != nil {
			return fmt.Errorf("raftstore: restore: close state: %w", err)
		}
		f.d = nil
	}
	state := filepath.Join(f.dir, fsmState)
	old := filepath.Join(f.dir, fsmStateOld)
	if err := removeTree(f.fsys, old); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	// A crash between the renames leaves state.old and no state, which
	// OpenFSM moves back.
	if err := f.fsys.Rename(state, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := f.fsys.Rename(tmp, state); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := f.fsys.SyncDir(f.dir); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	d, applied, err := f.openState(state)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	f.d = d
	f.failed.Store(nil)
	f.applied.Store(applied)
	f.restores.Add(1)
	if err := removeTree(f.fsys, old); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	return nil
}

// unpack writes the archive r holds into dir, a new directory, syncing
// every file and the directory.
func (f *FSM) unpack(r io.Reader, dir string) error {
	if err := f.fsys.MkdirAll(dir); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	var cur vfs.File
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	create := func(name string) (io.Writer, error) {
		file, err := f.fsys.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("raftstore: restore: %w", err)
		}
		cur = file
		return file, nil
	}
	done := func(name string) error {
		file := cur
		cur = nil
		if err := file.Sync(); err != nil {
			file.Close()
			return fmt.Errorf("raftstore: restore: %s: %w", name, err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("raftstore: restore: %s: %w", name, err)
		}
		return nil
	}
	files, err := readArchive(r, create, done)
	if err != nil {
		return err
	}
	if files == 0 {
		return fmt.Errorf("raftstore: restore: %w: no files", ErrBadSnapshot)
	}
	if err := f.fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	return f.fsys.SyncDir(f.dir)
}

// removeTree removes path and everything below it; a missing path is no
// error. (vfs.FS has no RemoveAll.)
func removeTree(fsys vfs.FS, path string) error {
	names, err := fsys.List(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Not a directory: a file.
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	for _, name := range names {
		if err := removeTree(fsys, filepath.Join(path, name)); err != nil {
			return err
		}
	}
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
