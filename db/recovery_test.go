package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// recoveryValue is the value of key i in the recovery tests.
func recoveryValue(i int) []byte {
	return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 20+i%50)
}

func recoveryKey(i int) []byte { return []byte(fmt.Sprintf("key%06d", i)) }

// recoveryOptions are small enough that a few hundred writes flush and
// merge.
func recoveryOptions(fs vfs.FS) *Options {
	return &Options{FS: fs, MemtableSize: 64 << 10, PageSize: 1024, CacheSize: 1 << 20,
		L0CompactionTrigger: 2, TargetFileSize: 32 << 10, SyncWrites: true}
}

// checkKeys fails unless keys [0, n) hold their values in d.
func checkKeys(t *testing.T, d *DB, n int, what string) {
	t.Helper()
	for i := 0; i < n; i++ {
		v, err := d.Get(recoveryKey(i))
		if err != nil || !bytes.Equal(v, recoveryValue(i)) {
			t.Fatalf("%s: acknowledged key %d: %d bytes, %v", what, i, len(v), err)
		}
	}
}

// walNames returns the WAL files in /db of fs, oldest first.
func walNames(t *testing.T, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List("/db")
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, n := range names {
		if ft, _ := base.ParseFilename(n); ft == base.FileTypeLog {
			logs = append(logs, n)
		}
	}
	return logs
}

// zeroRange overwrites [off, off+n) of name in fs with zeros, durably.
func zeroRange(t *testing.T, fs vfs.FS, name string, off, n int64) {
	t.Helper()
	f, err := fs.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// tornDatabase returns a crashed database directory, /db, whose newest WAL
// ends in a torn record, and the number of keys acknowledged as synced:
// 300 synced puts (with flushes and merges on the way), then 60 more that
// were not synced, of which the crash kept the first half and a bit.
func tornDatabase(t *testing.T) (*vfs.MemFS, int) {
	t.Helper()
	mem := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(mem))
	const synced = 300
	for i := 0; i < synced; i++ {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	d.opts.SyncWrites = false
	for i := synced; i < synced+60; i++ {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashCloneTorn(func(name string, unsynced int) int {
		if strings.HasSuffix(name, ".log") {
			return unsynced/2 + 3
		}
		return 0
	})
	d.Close()
	return crashed, synced
}

// TestFailedRecoveryLeavesOpenableDir fails every filesystem operation of
// an Open that recovers a torn WAL, one at a time, and then opens the
// directory on a healthy disk: every acknowledged write must be there. The
// disk-full variant retries the Open before space is freed, then after.
func TestFailedRecoveryLeavesOpenableDir(t *testing.T) {
	base, acked := tornDatabase(t)
	every := []vfs.Op{vfs.OpCreate, vfs.OpOpen, vfs.OpRead, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpRemove,
		vfs.OpMkdir, vfs.OpList, vfs.OpLock, vfs.OpSyncDir, vfs.OpStat, vfs.OpTruncate, vfs.OpClose}
	for _, mode := range []struct {
		name    string
		err     error
		retries int
		ops     []vfs.Op // nil: the operations that change the filesystem
	}{{"eio", vfs.ErrInjected, 0, nil}, {"enospc-retried", vfs.ErrNoSpace, 2, nil}, {"every-operation", vfs.ErrInjected, 0, every}} {
		t.Run(mode.name, func(t *testing.T) {
			for i := int64(0); ; i++ {
				fs := base.CrashClone()
				inj := vfs.FailAt(i, mode.ops...).WithError(mode.err)
				d, err := Open("/db", recoveryOptions(vfs.NewFaultFS(fs, inj)))
				if err == nil {
					d.Close()
					if !inj.Fired() {
						t.Logf("recovery ran clean at operation %d", i)
						return
					}
				}
				for r := 0; r < mode.retries; r++ {
					// The disk is still full: Open fails again.
					if d, err := Open("/db", recoveryOptions(vfs.NewFaultFS(fs, vfs.FailAt(0).WithError(mode.err)))); err == nil {
						d.Close()
					}
				}
				d, err = Open("/db", recoveryOptions(fs))
				if err != nil {
					t.Fatalf("operation %d failed, then Open on a healthy disk: %v", i, err)
				}
				checkKeys(t, d, acked, fmt.Sprintf("operation %d", i))
				d.Close()
			}
		})
	}
}

// TestPowerCutDuringRecovery cuts the power at every filesystem operation
// of an Open that recovers a torn WAL, on a disk that wrote back a random
// subset of the unsynced pages; the next Open must succeed with every
// acknowledged write.
func TestPowerCutDuringRecovery(t *testing.T) {
	base, acked := tornDatabase(t)
	for i := 0; ; i++ {
		cutter := newPowerCut(base.CrashClone(), i)
		cutter.Arm()
		d, err := Open("/db", recoveryOptions(cutter.FS()))
		if err == nil {
			d.Close()
		}
		crashed := cutter.Crashed()
		if crashed == nil {
			t.Logf("%d power-cut points in a recovering Open", i)
			return
		}
		d, err = Open("/db", recoveryOptions(crashed))
		if err != nil {
			t.Fatalf("power cut at operation %d of recovery, then Open: %v", i, err)
		}
		checkKeys(t, d, acked, fmt.Sprintf("power cut at operation %d", i))
		d.Close()
	}
}

// unsyncedDatabase returns a crashed database with one WAL holding
// unsynced writes only (keys [0, n)), every page of which reached the disk
// but the one at page: a zeroed 4 KiB gap followed by good records.
func unsyncedDatabase(t *testing.T, syncWrites bool, page int) (*vfs.MemFS, string) {
	t.Helper()
	mem := vfs.NewMem()
	o := recoveryOptions(mem)
	o.MemtableSize = 1 << 20
	o.SyncWrites = syncWrites
	d := mustOpen(t, "/db", o)
	for i := 0; i < 400; i++ {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	logs := walNames(t, mem)
	log := logs[len(logs)-1]
	crashed := mem.CrashClonePages(func(name string, p int) bool { return name != log || p != page })
	d.Close()
	if syncWrites {
		// Every page was synced, so the crash kept them all: zero the
		// page as a disk's bit rot would.
		zeroRange(t, crashed, "/db/"+log, int64(page)*vfs.CrashPageSize, vfs.CrashPageSize)
	}
	return crashed, log
}

// TestUnsyncedTailGapOpens: a WAL whose unsynced tail has a zeroed page
// followed by good records (the disk wrote the later pages back first)
// opens, keeps every record before the gap and reports what it dropped
// rather than fail with a checksum error.
func TestUnsyncedTailGapOpens(t *testing.T) {
	fs, log := unsyncedDatabase(t, false, 2)
	size, _ := fs.Stat("/db/" + log)
	d, err := Open("/db", recoveryOptions(fs))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rec := d.Metrics().Recovery
	if rec.DroppedBytes <= 0 || rec.DroppedBytes > size-2*vfs.CrashPageSize+200 || rec.Damage == "" {
		t.Fatalf("recovery report %+v for a %d-byte WAL damaged at %d", rec, size, 2*vfs.CrashPageSize)
	}
	// The records wholly before the gap survive: about 8 KiB of ~100-byte
	// records.
	n := 0
	for ; n < 400; n++ {
		if _, err := d.Get(recoveryKey(n)); err != nil {
			break
		}
	}
	if n < 40 || n > 120 {
		t.Fatalf("%d keys survived before the gap", n)
	}
	checkKeys(t, d, n, "before the gap")
	for i := n; i < 400; i++ {
		if _, err := d.Get(recoveryKey(i)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key %d after the gap: %v", i, err)
		}
	}
	if err := d.Put([]byte("after"), []byte("recovery")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = mustOpen(t, "/db", recoveryOptions(fs))
	defer d.Close()
	checkKeys(t, d, n, "reopened")
	if v, err := d.Get([]byte("after")); err != nil || string(v) != "recovery" {
		t.Fatalf("write after recovery: %q, %v", v, err)
	}
}

// TestSyncedWALDamageIsCorruption: damage in WAL bytes that a later sync
// marker shows were synced is corruption, not a crash: Open fails naming
// the file and the option, and with WALSalvage it opens as of the record
// before the damage.
func TestSyncedWALDamageIsCorruption(t *testing.T) {
	fs, log := unsyncedDatabase(t, true, 2)
	_, err := Open("/db", recoveryOptions(fs))
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), log) || !strings.Contains(err.Error(), "WALSalvage") {
		t.Fatalf("Open of a WAL damaged in synced bytes: %v", err)
	}
	o := recoveryOptions(fs)
	o.WALSalvage = true
	d, err := Open("/db", o)
	if err != nil {
		t.Fatalf("Open with WALSalvage: %v", err)
	}
	defer d.Close()
	if rec := d.Metrics().Recovery; rec.DroppedBytes <= 0 || !strings.Contains(rec.Damage, "salvaged") {
		t.Fatalf("recovery report %+v", rec)
	}
	if _, err := d.Get(recoveryKey(0)); err != nil {
		t.Fatalf("first key: %v", err)
	}
	if _, err := d.Get(recoveryKey(399)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last key after salvage: %v", err)
	}
}

// sealedOlderWAL returns a crashed database whose older WAL was sealed
// (walSeal) and a newer one follows it, holding writes, and the older
// WAL's name. Flushes wait until the crash is taken: a flush finished
// before it would make the older WAL obsolete, and nothing would replay
// it.
func sealedOlderWAL(t *testing.T, syncWrites bool, last func(*DB)) (*vfs.MemFS, string) {
	t.Helper()
	mem := vfs.NewMem()
	release := make(chan struct{})
	hold := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpCreate && strings.HasSuffix(name, ".sst") {
			<-release
		}
		return nil
	})
	o := recoveryOptions(vfs.NewFaultFS(mem, hold))
	o.SyncWrites = syncWrites
	var logs []string
	o.failpoint = func(name string) {
		if name == fpWALRotated && logs == nil {
			logs = walNames(t, mem)
		}
	}
	d := mustOpen(t, "/db", o)
	for i := 0; logs == nil; i++ {
		d.Put(recoveryKey(i), recoveryValue(i))
	}
	for i := 0; i < 10; i++ {
		d.Put(recoveryKey(100000+i), recoveryValue(i))
	}
	d.mu.Lock()
	seal := d.mu.sealing
	d.mu.Unlock()
	if err := seal.wait(); err != nil {
		t.Fatal(err)
	}
	if last != nil {
		last(d)
	}
	crashed := mem.CrashClonePages(func(string, int) bool { return true })
	close(release)
	d.Close()
	if len(walNames(t, crashed)) != 2 {
		t.Fatalf("WALs after the crash: %v", walNames(t, crashed))
	}
	return crashed, logs[0]
}

// TestOlderWALDamageIsCorruption: a WAL that a newer one follows was
// synced whole by its seal, which ends it with a sync marker, so damage
// anywhere in it is corruption; with WALSalvage the database opens as of
// the record before it, dropping the newer WAL too.
func TestOlderWALDamageIsCorruption(t *testing.T) {
	crashed, older := sealedOlderWAL(t, false, nil)
	zeroRange(t, crashed, "/db/"+older, 3000, 100)
	o := recoveryOptions(crashed)
	if _, err := Open("/db", o); !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), older) {
		t.Fatalf("Open with a damaged older WAL: %v", err)
	}
	o.WALSalvage = true
	d, err := Open("/db", o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Get(recoveryKey(0)); err != nil {
		t.Fatalf("first key: %v", err)
	}
}

// TestOlderWALTornBeforeSyncedNewerIsCorruption: damage at the end of an
// older WAL, past its last sync marker, would be a crash during its seal,
// but a newer WAL records a sync, which waits for the seal: the damage
// is corruption.
func TestOlderWALTornBeforeSyncedNewerIsCorruption(t *testing.T) {
	crashed, older := sealedOlderWAL(t, true, nil)
	size, err := crashed.Stat("/db/" + older)
	if err != nil {
		t.Fatal(err)
	}
	zeroRange(t, crashed, "/db/"+older, size-60, 60) // the seal's marker and the last record
	_, err = Open("/db", recoveryOptions(crashed))
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), "records a sync") {
		t.Fatalf("Open with a torn older WAL before a synced newer one: %v", err)
	}
}

// TestNoSyncRecordedBeforeOlderWALsSealed: a WAL records a sync (a marker,
// written with the first record after the sync) only when every older
// WAL is synced since its last write, so that recovery can tell a crash
// during a seal from corruption.
func TestNoSyncRecordedBeforeOlderWALsSealed(t *testing.T) {
	var mu sync.Mutex
	dirty := map[base.FileNum]bool{}  // a write since its last sync
	synced := map[base.FileNum]bool{} // synced at least once
	var violations []string
	inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		ft, num := base.ParseFilename(filepath.Base(name))
		if ft != base.FileTypeLog {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch op {
		case vfs.OpRemove:
			delete(dirty, num)
		case vfs.OpSync:
			dirty[num] = false
			synced[num] = true
		case vfs.OpWrite:
			if synced[num] {
				for older, d := range dirty {
					if older < num && d {
						violations = append(violations, fmt.Sprintf("write to %s after its sync while %s was not synced", filepath.Base(name), base.MakeFilename(base.FileTypeLog, older)))
					}
				}
			}
			dirty[num] = true
		}
		return nil
	})
	for _, sync := range []bool{false, true} {
		clear(dirty)
		clear(synced)
		o := recoveryOptions(vfs.NewFaultFS(vfs.NewMem(), inj))
		o.SyncWrites = sync
		d := mustOpen(t, "/db", o)
		for i := 0; i < 3000; i++ {
			if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
	}
	if len(violations) > 0 {
		t.Fatalf("%d violations, the first: %s", len(violations), violations[0])
	}
}

// TestEmptyNewerWALIsNotANewerWAL: a WAL switch whose directory sync
// failed removes the new WAL, but after a crash the removal may not have
// survived; an empty WAL after a torn one must not turn the torn tail
// into corruption.
func TestEmptyNewerWALIsNotANewerWAL(t *testing.T) {
	fs, acked := tornDatabase(t)
	logs := walNames(t, fs)
	_, last := base.ParseFilename(logs[len(logs)-1])
	f, err := fs.Create("/db/" + base.MakeFilename(base.FileTypeLog, last+100))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fs.SyncDir("/db")
	d, err := Open("/db", recoveryOptions(fs))
	if err != nil {
		t.Fatalf("Open with an empty WAL after the torn one: %v", err)
	}
	defer d.Close()
	checkKeys(t, d, acked, "after recovery")
}

// TestDamagedSealMarkerIsCorruption: a sealed older WAL whose final sync
// marker is damaged (media, not a crash: the seal synced it) must not be
// taken for a seal a crash cut short when a newer WAL holds a synced,
// acknowledged write that no later record follows.
func TestDamagedSealMarkerIsCorruption(t *testing.T) {
	crashed, older := sealedOlderWAL(t, false, func(d *DB) {
		b := d.NewBatch()
		b.Put([]byte("acked-synced"), []byte("v"))
		if err := d.WriteWith(b, WriteOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
	})
	size, err := crashed.Stat("/db/" + older)
	if err != nil {
		t.Fatal(err)
	}
	f, err := crashed.OpenReadWrite("/db/" + older)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	f.ReadAt(one[:], size-3)
	one[0] ^= 0x01 // one bit of the seal's marker
	f.WriteAt(one[:], size-3)
	f.Sync()
	f.Close()
	// The synced write put a marker in the newer WAL before it was
	// acknowledged: the damage is corruption, not a seal cut short.
	if _, err := Open("/db", recoveryOptions(crashed)); !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), older) {
		t.Fatalf("Open with the older WAL's seal marker damaged: %v (the acknowledged synced write would be lost)", err)
	}
}

// TestValueLookingLikeMarkerIsNotASync: a value holding the bytes of a
// sync marker in the newer WAL does not make a power cut during the older
// WAL's seal look like corruption: markers count only where records start.
func TestValueLookingLikeMarkerIsNotASync(t *testing.T) {
	// A value holding a marker of the first form (length 1<<31|8,
	// CRC-32C, synced offset 1), which does not say where it is.
	var m [16]byte
	binary.LittleEndian.PutUint32(m[0:4], 1<<31|8)
	binary.LittleEndian.PutUint64(m[8:], 1)
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.LittleEndian.PutUint32(m[4:8], crc32.Update(crc32.Update(0, tab, m[0:4]), tab, m[8:]))
	after := [][]byte{append(bytes.Repeat([]byte{'x'}, 20), m[:]...)}
	for range 50 {
		after = append(after, bytes.Repeat([]byte{'v'}, 100))
	}
	crashed, _ := sealCutShort(t, after)
	d, err := Open("/db", &Options{FS: crashed})
	if err != nil {
		t.Fatalf("open after a power cut during a WAL seal: %v", err)
	}
	d.Close()
}
