package wal

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/seed-d6fe07da/strata/vfs"
)

// behindMax is the most bytes of records a write-behind Writer keeps
// queued in memory. A record that finds this many waiting is not queued
// until the goroutine's write under way ends, or, if none is, the caller
// writes the queue itself.
const behindMax = 1 << 20

// A queue buffer starts at behindStartCap and, if records outgrow that,
// grows once to behindCap: a record joins a queue shorter than behindMax
// and is shorter than behindDirectMin, so a queue never outgrows it.
// Growing it by appends, doubling, cost puts of 4 KiB hundreds of
// microseconds each time (allocating, clearing and copying up to a MiB);
// starting it at behindCap cost a MiB for a WAL that takes only a sync
// marker after a memtable switch.
const (
	behindStartCap = 64 << 10
	behindCap      = behindMax + HeaderLen + behindDirectMin
)

// behindDirectMin is the payload size from which a write-behind Writer
// writes a record itself, after the queue, rather than copy it into the
// queue: copying a large value costs more than the write call it saves.
const behindDirectMin = 64 << 10

// behindWakeBytes is how many bytes of records wake the goroutine, and
// behindDelay how long after the first record into an empty queue it
// wakes with fewer. Woken for every record, the goroutine made a write
// call per record whenever it kept up, and every wake-up cost the writer
// a system call; woken per 64 KiB it writes records in batches, and the
// timer bounds how long a lone record waits.
const (
	behindWakeBytes = 64 << 10
	behindDelay     = 200 * time.Microsecond
)

// behind is the queue and the goroutine of a write-behind Writer
// (NewWriteBehindWriter). The Writer appends framed records to queue; the
// goroutine takes the whole queue and writes it with one call, again as
// long as records came meanwhile. Only one write runs at a time, the
// goroutine's or a caller's (drain), so the file receives the records in
// order. Two buffers take turns as the queue: one is written while records
// join the other.
type behind struct {
	f vfs.File

	mu      sync.Mutex
	ended   sync.Cond     // broadcast when a write ends
	queue   []byte        // records not yet handed to the file
	spare   []byte        // the buffer of the last write, the next queue
	writing bool          // a write of taken records is under way
	written int64         // bytes written to f
	err     error         // the first failed write; sticky
	wake    chan struct{} // holds a token when the goroutine has work
	timer   *time.Timer   // wakes the goroutine behindDelay after a first record
	armed   bool          // timer runs (b.mu)
	stop    chan struct{} // closed to end the goroutine
	exited  chan struct{} // closed when the goroutine has ended
}

func newBehind(f vfs.File) *behind {
	b := &behind{
		f:      f,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	b.ended.L = &b.mu
	b.timer = time.NewTimer(time.Hour)
	b.timer.Stop()
	go b.loop()
	return b
}

// loop is the goroutine: it writes the queue whenever it is woken.
func (b *behind) loop() {
	defer close(b.exited)
	for {
		select {
		case <-b.wake:
		case <-b.timer.C:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		b.armed = false
		for len(b.queue) > 0 && !b.writing && b.err == nil {
			b.writeQueueLocked()
		}
		b.mu.Unlock()
	}
}

// writeQueueLocked takes the queue and writes it (writeLocked), keeping
// its buffer as the spare. b.mu is held and no write is under way.
func (b *behind) writeQueueLocked() {
	p := b.queue
	b.queue, b.spare = b.spare[:0], nil
	b.writeLocked(p)
	b.spare = p[:0]
}

// writeLocked writes p to the file with b.mu released, as the one write
// under way, breaking the queue on failure. b.mu is held and no write is
// under way.
func (b *behind) writeLocked(p []byte) {
	b.writing = true
	off := b.written
	b.mu.Unlock()
	n, err := b.f.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	b.mu.Lock()
	b.writing = false
	b.written += int64(n)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("wal: write at offset %d: %w", off+int64(n), err)
	}
	b.ended.Broadcast()
}

// add queues the record h, p and wakes the goroutine if it is idle; it
// returns the error of an earlier write that failed.
func (b *behind) add(h, p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.queue) >= behindMax {
		if b.writing {
			b.ended.Wait()
		} else {
			b.writeQueueLocked()
		}
	}
	if b.err != nil {
		return b.err
	}
	if need := len(b.queue) + len(h) + len(p); need > cap(b.queue) {
		c := behindStartCap
		if need > c || cap(b.queue) >= behindStartCap {
			c = behindCap
		}
		q := make([]byte, len(b.queue), c)
		copy(q, b.queue)
		b.queue = q
	}
	b.queue = append(append(b.queue, h...), p...)
	if b.writing {
		return nil // the goroutine takes the queue when its write ends
	}
	if len(b.queue) >= behindWakeBytes {
		select {
		case b.wake <- struct{}{}:
		default: // a token is waiting already
		}
	} else if !b.armed {
		b.armed = true
		b.timer.Reset(behindDelay)
	}
	return nil
}

// drain returns once every queued record is written to the file, writing
// the queue itself after the goroutine's write under way, if any.
func (b *behind) drain() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.drainLocked()
}

// drainLocked is drain with b.mu held.
func (b *behind) drainLocked() error {
	for b.err == nil {
		switch {
		case b.writing:
			b.ended.Wait()
		case len(b.queue) > 0:
			b.writeQueueLocked()
		default:
			return nil
		}
	}
	return b.err
}

// writeDirect drains the queue, then writes h and p to the file in the
// calling goroutine.
func (b *behind) writeDirect(h, p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.drainLocked(); err != nil {
		return err
	}
	for _, q := range [][]byte{h, p} {
		if b.writeLocked(q); b.err != nil {
			return b.err
		}
	}
	return nil
}

// takeBuffers moves from's queue buffers, empty, to b, if b has none and
// from has nothing queued.
func (b *behind) takeBuffers(from *behind) {
	from.mu.Lock()
	q, spare := from.queue, from.spare
	if len(q) > 0 || from.writing {
		from.mu.Unlock()
		return
	}
	from.queue, from.spare = nil, nil
	from.mu.Unlock()
	if cap(q) < cap(spare) {
		q, spare = spare, q // the larger one first
	}
	b.mu.Lock()
	if b.queue == nil && b.spare == nil {
		b.queue, b.spare = q[:0], spare
	}
	b.mu.Unlock()
}

// end stops the goroutine once its write under way is done and drops the
// queue, which is empty unless the Writer broke or is abandoned.
func (b *behind) end() {
	b.mu.Lock()
	for b.writing {
		b.ended.Wait()
	}
	b.queue, b.spare = nil, nil
	b.mu.Unlock()
	close(b.stop)
	<-b.exited
	b.timer.Stop()
}
