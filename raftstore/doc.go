// Package raftstore runs Strata under hashicorp/raft (v1.7.2): Store is
// a raft.LogStore and raft.StableStore, and FSM a raft.FSM holding a
// replicated key-value map whose snapshots are Strata checkpoints. It is
// a module of its own, so the strata library does not depend on raft.
//
//	store, err := raftstore.Open(filepath.Join(dir, "raft"), nil) // log and stable store
//	fsm, err := raftstore.OpenFSM(filepath.Join(dir, "fsm"), nil)  // the replicated map
//	snaps, err := raft.NewFileSnapshotStore(dir, 2, os.Stderr)
//	r, err := raft.NewRaft(conf, fsm, store, store, snaps, transport)
//	err = r.Apply(raftstore.PutCommand(k, v), time.Second).Error()
//	v, err := fsm.Get(k)
//
// # Store: the log and the stable store
//
// One Strata database holds both, under two key prefixes:
//
//	'l' | index, 8 bytes big-endian  →  encoded raft.Log
//	's' | stable key                 →  value (SetUint64: 8 bytes big-endian)
//
// One database rather than two because both need the same thing, synced
// writes, and one database has one WAL to fsync, one memtable and one
// set of background merges; the stable keys (raft's current term, last
// vote) are few and written rarely, so they cost the log nothing.
// The database is opened with SyncWrites: raft requires StoreLogs and Set
// to be durable when they return. StoreLogs writes all its entries in one
// batch, so one fsync covers them, and a crash keeps all or none.
//
// Big-endian indexes sort as numbers, so the log is one contiguous key
// range: DeleteRange(min, max) is a single range deletion of
// ['l'|min, 'l'|max+1), whatever the number of entries, where raft-boltdb
// deletes them one by one. Open finds the first and last index by seeking
// an iterator to each end of the range. After that the Store keeps both in
// memory, updated by each StoreLogs and DeleteRange (a truncation seeks
// from the edge of the deleted range), so FirstIndex and LastIndex read no
// database: Strata's iterator steps over keys a range deletion covers one
// at a time until merges drop them, and a seek from the front of a log
// truncated a few thousand entries at a time would walk them all.
//
// A missing stable key returns ErrKeyNotFound, whose text is exactly "not
// found", unwrapped: raft tells a fresh node from a broken store by
// comparing err.Error() with that string (raft-boltdb returns the same).
// A missing entry returns raft.ErrLogNotFound.
//
// An entry is stored in an explicit binary encoding (all integers
// unsigned varints unless said otherwise):
//
//	version byte (1) | flags byte | type byte | index | term
//	  | [flags&1: AppendedAt as signed-varint Unix seconds, nanoseconds]
//	  | len(Data) | Data | len(Extensions) | Extensions
//
// For example the entry {Index: 5, Term: 2, Type: LogCommand, Data: "hi"}
// with no AppendedAt is 01 00 00 05 02 02 68 69 00. The decoder rejects
// unknown versions and flags, truncated fields, lengths past the end and
// trailing bytes (FuzzDecodeLog), and GetLog checks the index stored in
// the entry against its key. AppendedAt comes back in the local time zone
// with its monotonic reading dropped, as any encoding of it does.
//
// # FSM: the replicated map
//
// The FSM keeps the map in a Strata database of its own, the state
// database, in the FSM's directory:
//
//	state/      the state database: 'd'|key → value, and 'm'"applied" → the
//	            index of the last entry applied (8 bytes big-endian)
//	snapshots/  checkpoints of snapshots raft has not released yet
//	restore/    a snapshot being unpacked; state.old/ the state it replaces
//
// Commands are PutCommand and DeleteCommand (a version byte, an operation
// byte, then length-prefixed key and value). ApplyBatch applies the
// entries raft hands it in one batch together with the applied index, so
// the state and the index it claims never disagree, even after a crash.
// Its writes are not synced: raft's log and snapshot store are what a
// power cut must not lose, and the state is rebuilt from them. On restart
// raft restores its latest snapshot into the FSM (Restore replaces the
// state) and re-applies the committed entries after it; entries at or
// below the applied index are skipped, so nothing is applied twice even
// for commands that are not idempotent (put and delete are, so even a
// replay over a state that is ahead would be harmless). Because the state
// database survives restarts and records its index,
// raft.Config.NoSnapshotRestoreOnStart may be set to skip that restore:
// every snapshot is a checkpoint, which flushes the state durably first,
// so the state on disk is never behind the latest snapshot raft would
// replay from.
//
// Snapshot takes a Strata checkpoint of the state (tables hard-linked: a
// memtable flush and a manifest, not a copy); raft then calls Persist on
// another goroutine while applies go on, which writes the checkpoint's
// files to the snapshot sink as a tar stream, and Release removes the
// checkpoint. Restore unpacks such a stream into restore/ (every file
// synced), opens it once to check it is a database, closes the current
// state, swaps the directories and reopens; OpenFSM finishes or undoes a
// swap a crash interrupted. The archive reader accepts only regular files
// with plain names (FuzzReadArchive).
//
// The FSM is an example as much as a product: an application with its
// own commands writes its own FSM in the same way, keeping the applied
// index in the batch that applies each entry.
package raftstore
