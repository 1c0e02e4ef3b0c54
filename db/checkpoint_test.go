package db

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// contents returns every key and value of d.
func contents(t *testing.T, d *DB) map[string]string {
	t.Helper()
	m := make(map[string]string)
	it := d.Scan(nil, nil)
	for ok := it.First(); ok; ok = it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return m
}

// ckptWriterOp applies operation i of writer w to d (d nil: only to
// model): a put of its own key, every 7th a delete of a key three back,
// every 50th a range delete of ten keys forty back.
func ckptWriterOp(d *DB, model map[string]string, w, i int) error {
	key := func(j int) string { return fmt.Sprintf("w%d-%06d", w, j) }
	switch {
	case i%50 == 49:
		start, end := key(i-40), key(i-30)
		for k := range model {
			if k >= start && k < end {
				delete(model, k)
			}
		}
		if d != nil {
			return d.DeleteRange([]byte(start), []byte(end))
		}
	case i%7 == 6:
		delete(model, key(i-3))
		if d != nil {
			return d.Delete([]byte(key(i - 3)))
		}
	default:
		v := strings.Repeat(fmt.Sprintf("%d.%d|", w, i), 1+i%40)
		model[key(i)] = v
		if d != nil {
			return d.Put([]byte(key(i)), []byte(v))
		}
	}
	return nil
}

// checkPrefix fails t unless got's keys of writer w are the state after
// some number of w's operations in [lo, hi], and returns that number.
func checkPrefix(t *testing.T, got map[string]string, w, lo, hi int, what string) int {
	t.Helper()
	mine := make(map[string]string)
	prefix := fmt.Sprintf("w%d-", w)
	for k, v := range got {
		if strings.HasPrefix(k, prefix) {
			mine[k] = v
		}
	}
	model := make(map[string]string)
	for i := 0; i < lo; i++ {
		ckptWriterOp(nil, model, w, i)
	}
	for n := lo; n <= hi; n++ {
		if maps.Equal(model, mine) {
			return n
		}
		ckptWriterOp(nil, model, w, n)
	}
	t.Fatalf("%s: writer %d's %d keys are not its state after any of its operations %d..%d", what, w, len(mine), lo, hi)
	return 0
}

// TestCheckpointWhileWriting takes checkpoints while two writers put,
// delete and range-delete, and flushes and merges run: each checkpoint
// opens as a database holding, for each writer, exactly the state after
// some prefix of its operations that includes every one acknowledged
// before the checkpoint began. Incremental lists (Since) and a checkpoint
// of a checkpoint are checked too.
func TestCheckpointWhileWriting(t *testing.T) {
	root := t.TempDir()
	o := recoveryOptions(nil)
	o.SyncWrites = false
	d := mustOpen(t, filepath.Join(root, "db"), o)

	const writers = 2
	var acked [writers]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model := make(map[string]string)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := ckptWriterOp(d, model, w, i); err != nil {
					t.Errorf("writer %d op %d: %v", w, i, err)
					return
				}
				acked[w].Store(int64(i + 1))
			}
		}()
	}

	var prev *CheckpointInfo
	var lastSeq uint64
	var last string
	for c := range 6 {
		for acked[0].Load() < int64(300*(c+1)) && !t.Failed() {
			// let the writers get ahead
		}
		var lo [writers]int
		for w := range writers {
			lo[w] = int(acked[w].Load())
		}
		dir := filepath.Join(root, fmt.Sprintf("ckpt%d", c))
		info, err := d.Checkpoint(dir)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", c, err)
		}
		var hi [writers]int
		for w := range writers {
			hi[w] = int(acked[w].Load()) + 1 // the one in flight may be in
		}
		if info.Seq < lastSeq {
			t.Fatalf("checkpoint %d at seqnum %d, after one at %d", c, info.Seq, lastSeq)
		}
		lastSeq = info.Seq
		if info.CopiedBytes != 0 || (len(info.Tables) > 0 && info.LinkedBytes == 0) {
			t.Fatalf("checkpoint %d on one filesystem: %d bytes linked, %d copied", c, info.LinkedBytes, info.CopiedBytes)
		}
		if prev != nil {
			added, dropped := info.Since(prev)
			have := map[string]bool{}
			for _, n := range prev.Tables {
				have[n] = true
			}
			for _, n := range dropped {
				delete(have, n)
			}
			for _, n := range added {
				have[n] = true
			}
			if got := slices.Sorted(maps.Keys(have)); !slices.Equal(got, info.Tables) {
				t.Fatalf("checkpoint %d: previous tables %v, dropped %v, added %v do not make %v", c, prev.Tables, dropped, added, info.Tables)
			}
		}
		prev, last = info, dir

		cd := mustOpen(t, dir, recoveryOptions(nil))
		got := contents(t, cd)
		if err := cd.Close(); err != nil {
			t.Fatal(err)
		}
		for w := range writers {
			checkPrefix(t, got, w, lo[w], hi[w], fmt.Sprintf("checkpoint %d", c))
		}
	}
	close(stop)
	wg.Wait()

	// A checkpoint of a checkpoint holds the same data.
	cd := mustOpen(t, last, recoveryOptions(nil))
	want := contents(t, cd)
	if _, err := cd.Checkpoint(last + "-again"); err != nil {
		t.Fatal(err)
	}
	cd.Close()
	cd2 := mustOpen(t, last+"-again", recoveryOptions(nil))
	if got := contents(t, cd2); !maps.Equal(got, want) {
		t.Fatalf("checkpoint of a checkpoint: %d keys, want %d", len(got), len(want))
	}
	cd2.Close()
}

// TestCheckpointMisuse: an existing directory is refused, and a closed
// database says so.
func TestCheckpointMisuse(t *testing.T) {
	root := t.TempDir()
	d := mustOpen(t, filepath.Join(root, "db"), recoveryOptions(nil))
	d.Put([]byte("a"), []byte("1"))
	if _, err := d.Checkpoint(filepath.Join(root, "db")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("checkpoint onto the database's own directory: %v, want ErrExist", err)
	}
	if _, err := d.Checkpoint(filepath.Join(root, "c")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Checkpoint(filepath.Join(root, "c")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second checkpoint into one directory: %v, want ErrExist", err)
	}
	d.Close()
	if _, err := d.Checkpoint(filepath.Join(root, "d")); !errors.Is(err, ErrClosed) {
		t.Fatalf("checkpoint of a closed database: %v, want ErrClosed", err)
	}
}

// TestCheckpointCopiesWhereLinksFail checks the fallback when the
// filesystem cannot link: the tables are copied, and the checkpoint opens
// with every key.
func TestCheckpointCopiesWhereLinksFail(t *testing.T) {
	mem := vfs.NewMem()
	noLinks := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpLink {
			return vfs.ErrInjected
		}
		return nil
	})
	d := mustOpen(t, "/db", recoveryOptions(vfs.NewFaultFS(mem, noLinks)))
	for i := range 2000 {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := d.Checkpoint("/ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if info.LinkedBytes != 0 || info.CopiedBytes == 0 {
		t.Fatalf("%d bytes linked, %d copied; want all copied", info.LinkedBytes, info.CopiedBytes)
	}
	d.Close()
	c := mustOpen(t, "/ckpt", recoveryOptions(mem))
	checkKeys(t, c, 2000, "copied checkpoint")
	c.Close()
}

// TestPowerCutDuringCheckpoint cuts the power at every state-changing
// filesystem operation of a Checkpoint (its flush included), on a disk
// that wrote back a random subset of the unsynced pages: the database
// opens with every acknowledged write, the checkpoint directory is either
// absent or complete, and a new Checkpoint to the same directory works.
func TestPowerCutDuringCheckpoint(t *testing.T) {
	base := vfs.NewMem()
	d := mustOpen(t, "/db", recoveryOptions(base))
	const n = 1500
	for i := range n {
		if err := d.Put(recoveryKey(i), recoveryValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	for i := 0; ; i++ {
		cutter := newPowerCut(base.CrashClone(), i)
		d, err := Open("/db", recoveryOptions(cutter.FS()))
		if err != nil {
			t.Fatal(err)
		}
		for j := n; j < n+50; j++ { // some writes for the checkpoint to flush
			if err := d.Put(recoveryKey(j), recoveryValue(j)); err != nil {
				t.Fatal(err)
			}
		}
		cutter.Arm()
		_, ckErr := d.Checkpoint("/ckpt")
		d.Close()
		cut := cutter.Crashed()
		if cut == nil {
			if ckErr != nil {
				t.Fatal(ckErr)
			}
			t.Logf("%d power-cut points in a Checkpoint", i)
			return
		}
		d, err = Open("/db", recoveryOptions(cut))
		if err != nil {
			t.Fatalf("power cut at operation %d of a checkpoint, then Open: %v", i, err)
		}
		checkKeys(t, d, n+50, fmt.Sprintf("database after a power cut at operation %d of a checkpoint", i))
		if _, err := cut.Stat("/ckpt"); err == nil {
			c, err := Open("/ckpt", recoveryOptions(cut))
			if err != nil {
				t.Fatalf("power cut at operation %d: the checkpoint exists but does not open: %v", i, err)
			}
			checkKeys(t, c, n+50, fmt.Sprintf("checkpoint left by a power cut at operation %d", i))
			c.Close()
		} else {
			if _, err := d.Checkpoint("/ckpt"); err != nil {
				t.Fatalf("power cut at operation %d, then Checkpoint again: %v", i, err)
			}
		}
		d.Close()
	}
}
