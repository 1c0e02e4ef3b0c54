package wal

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// gatedFile is a memFile whose writes can be held (hold) and that is safe
// to look at (size) while a write-behind goroutine writes to it.
type gatedFile struct {
	memFile
	mu     sync.Mutex
	gate   chan struct{} // a write waits for it to be closed, when set
	writes int
}

func (f *gatedFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	return f.memFile.Write(p)
}

func (f *gatedFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.memFile.Sync()
}

func (f *gatedFile) hold() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *gatedFile) release() {
	f.mu.Lock()
	close(f.gate)
	f.gate = nil
	f.mu.Unlock()
}

func (f *gatedFile) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.data)
}

// TestWriteBehindRoundTrip writes records of every size, past the queue's
// limit and above the size written directly, and reads them back in order.
func TestWriteBehindRoundTrip(t *testing.T) {
	f := &gatedFile{}
	w := NewWriteBehindWriter(f)
	w.MarkSyncs()
	var recs [][]byte
	total := 0
	for i := 0; total < 3*behindMax; i++ {
		n := 1 + (i*7919)%5000
		if i%97 == 0 {
			n = behindDirectMin + i
		}
		r := bytes.Repeat([]byte{byte(i)}, n)
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		total += n
		if i%500 == 0 {
			if err := w.Sync(); err != nil { // a marker, and a drain
				t.Fatal(err)
			}
		}
	}
	size := w.Size()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(len(f.data)) < size {
		t.Fatalf("file holds %d bytes, Size said %d", len(f.data), size)
	}
	_, got, err := readAll(f.data)
	if err == nil || len(got) != len(recs) {
		t.Fatalf("read %d records (%v), wrote %d", len(got), err, len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i], recs[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if f.writes >= len(recs)/2 {
		t.Fatalf("%d write calls for %d records: not batched", f.writes, len(recs))
	}
}

// TestWriteBehindDoesNotWaitForTheFile: while the goroutine's write is
// held, records go on being accepted, and Sync then writes them all.
func TestWriteBehindDoesNotWaitForTheFile(t *testing.T) {
	f := &gatedFile{}
	f.hold()
	w := NewWriteBehindWriter(f)
	rec := bytes.Repeat([]byte("r"), 1000)
	n := 0
	done := make(chan error)
	go func() {
		for ; n < (behindMax/2)/len(rec); n++ { // under the queue's limit
			if err := w.WriteRecord(rec); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteRecord waited for a held write")
	}
	if f.size() != 0 {
		t.Fatal("a held write wrote")
	}
	f.release()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, want := int64(f.size()), w.Size(); got != want {
		t.Fatalf("after Sync the file holds %d bytes, want %d", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := readAll(f.data); len(got) != n {
		t.Fatalf("read %d records, wrote %d", len(got), n)
	}
}

// TestWriteBehindWritesALoneRecordSoon: a record too small to wake the
// goroutine reaches the file without Flush, once its delay is over.
func TestWriteBehindWritesALoneRecordSoon(t *testing.T) {
	f := &gatedFile{}
	w := NewWriteBehindWriter(f)
	defer w.Close()
	if err := w.WriteRecord([]byte("lone")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.size() != HeaderLen+4 {
		if time.Now().After(deadline) {
			t.Fatal("the record never reached the file")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteBehindFailedWriteIsSticky: a write that fails in the goroutine
// fails the next call, and every later one, and nothing is synced.
func TestWriteBehindFailedWriteIsSticky(t *testing.T) {
	f := &gatedFile{}
	f.writeErr = errInjected
	w := NewWriteBehindWriter(f)
	if err := w.WriteRecord([]byte("x")); err != nil {
		t.Fatal(err) // queued: the failure comes later
	}
	err := w.Flush()
	if !errors.Is(err, errInjected) {
		t.Fatalf("Flush: %v", err)
	}
	for name, call := range map[string]func() error{
		"WriteRecord": func() error { return w.WriteRecord([]byte("more")) },
		"Sync":        w.Sync,
		"Close":       w.Close,
	} {
		if got := call(); !errors.Is(got, errInjected) {
			t.Fatalf("%s after a failed write: %v", name, got)
		}
	}
	if f.syncs != 0 {
		t.Fatal("synced after a failed write")
	}
}

// TestWriteBehindAbandonEnds: Abandon closes the file without a sync and
// ends the goroutine. (Whether the queued record was written first depends
// on the goroutine's timer.)
func TestWriteBehindAbandonEnds(t *testing.T) {
	f := &gatedFile{}
	w := NewWriteBehindWriter(f)
	if err := w.WriteRecord(bytes.Repeat([]byte("a"), behindWakeBytes)); err != nil {
		t.Fatal(err) // written directly
	}
	if err := w.WriteRecord([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abandon(); err != nil {
		t.Fatal(err)
	}
	if !f.closed || f.syncs != 0 {
		t.Fatalf("closed %v, syncs %d", f.closed, f.syncs)
	}
	select {
	case <-w.bg.exited:
	default:
		t.Fatal("the goroutine outlived Abandon")
	}
	if _, got, _ := readAll(f.data); len(got) == 0 || len(got[0]) != behindWakeBytes {
		t.Fatalf("%d records after Abandon, want the direct one first", len(got))
	}
}

// TestWriteBehindTakeBuffers: a Writer takes a drained one's buffers, and
// both go on writing records that read back.
func TestWriteBehindTakeBuffers(t *testing.T) {
	f1, f2 := &gatedFile{}, &gatedFile{}
	w1, w2 := NewWriteBehindWriter(f1), NewWriteBehindWriter(f2)
	w1.MarkSyncs()
	rec := bytes.Repeat([]byte("t"), 1000)
	for i := 0; i < 200; i++ { // past behindStartCap: the buffer grows
		if err := w1.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w1.Flush(); err != nil {
		t.Fatal(err)
	}
	w2.TakeBuffers(w1)
	// Which buffers grew depends on when the goroutine took the queue.
	if q, sp := cap(w2.bg.queue), cap(w2.bg.spare); q == 0 || q < sp {
		t.Fatalf("the new Writer's buffers have capacities %d and %d, want the larger, not 0, first", q, sp)
	}
	if w1.bg.queue != nil || w1.bg.spare != nil {
		t.Fatal("the old Writer kept its buffers")
	}
	if err := w1.Seal(); err != nil { // a marker after the switch
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := w2.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*Writer{w1, w2} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for f, want := range map[*gatedFile]int{f1: 200, f2: 10} {
		if _, got, _ := readAll(f.data); len(got) != want {
			t.Fatalf("read %d records, want %d", len(got), want)
		}
	}
}
