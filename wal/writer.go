package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// bufSize is the size of the Writer's buffer. A record larger than the
// buffer is written straight through.
const bufSize = 64 << 10

// errEmptyRecord is returned by WriteRecord for an empty payload, which the
// format cannot tell from a zeroed tail.
var errEmptyRecord = errors.New("wal: empty record")

// errRecordTooLarge is returned by WriteRecord for a payload over maxPayload.
var errRecordTooLarge = errors.New("wal: record too large")

// mapWindow is how much of a mapped log is allocated and mapped at a time:
// one fallocate, mmap and munmap per MiB of log instead of a write call per
// record. It is a multiple of every page size Linux uses.
const mapWindow = 1 << 20

// Prefaulting a mapped log. The first store into each page of a fresh
// mapping takes a page fault, microseconds each and a sizeable share of an
// unsynced put's cost. A helper goroutine takes them instead: it stores a
// zero into each page of a chunk ahead of the records, which are zeros
// there already, keeping prefaultLead bytes ahead. The records never enter
// the chunk the helper is working on: the writer waits for it first. Near
// the end of a window the helper goes on into the next one, which the
// writer maps early for it, so the records do not meet a cold window every
// MiB and wait there for the helper's first chunk. madvise
// (MADV_POPULATE_WRITE) would do the same in one call but is slower per
// page.
const (
	prefaultChunk = 64 << 10
	prefaultLead  = 256 << 10
)

// Writer appends records to a file. Records are buffered; Flush hands them
// to the file and Sync makes them durable. A Writer from NewMappedWriter
// stores records straight into a shared mapping of the file instead, where
// the filesystem makes that safe, which hands them to the kernel as the
// write call would, so Flush has nothing to do. A Writer from
// NewWriteBehindWriter leaves the write calls to a goroutine of its own.
// A Writer is not safe for concurrent use: the caller (group commit in the
// db) serialises writes.
//
// After a failed write or Sync the Writer is broken: every later call
// returns the same error. A failed fsync may have dropped dirty pages, so
// the caller must not retry and pretend the data is safe; it must treat the
// log as lost from the last successful Sync and start a new one.
type Writer struct {
	f       vfs.File
	buf     []byte // buffered bytes not yet written to f
	written int64  // bytes written to f by this Writer
	err     error  // sticky error; nil while the Writer is healthy
	closed  bool
	hdr     [HeaderLen]byte // header scratch, kept here so it does not escape

	// markSyncs makes the Writer write a sync marker before the first
	// record after each Sync (MarkSyncs); synced is the offset the last
	// Sync made durable, marked the offset the last marker reported and
	// markEnd the offset just past that marker.
	markSyncs               bool
	synced, marked, markEnd int64

	// Mapped mode (m != nil): records are copied into win, the mapping of
	// the file's bytes [winOff, winOff+len(win)); winPos bytes of it are
	// used. Bytes past the last record are zeros, which a Reader takes as
	// the end of the log; Close truncates them.
	m      vfs.Mappable
	win    []byte
	winOff int64
	winPos int
	// next maps the window after win, [winOff+len(win), +len(next)), once
	// the helper has reached it; nil before.
	next []byte

	// Prefaulting (mapped mode): the helper goroutine works on the file's
	// bytes [pfFrom, pfNext) while pfBusy and sends on pfDone when done;
	// the pages below pfNext are faulted in or being faulted. Offsets are
	// from the start of the file.
	pfFrom, pfNext int64
	pfBusy         bool
	pfDone         chan struct{}
	pageSize       int

	// around holds a record written with a write call (writeAround) to a
	// file that is not a vfs.VectorWriter; iov holds the header and the
	// payload of one written to a file that is.
	around []byte
	iov    [2][]byte
	// writeThrough is set by the first Sync of a mapped Writer: from then
	// on every record is written with a write call (see Sync).
	writeThrough bool

	// wbDone receives when the goroutine that starts the writeback of a
	// full window returns; wbBusy says one is running.
	wbDone chan struct{}
	wbBusy bool

	// bg queues the records of a write-behind Writer for its goroutine
	// (NewWriteBehindWriter); nil otherwise. written then counts the
	// bytes queued too.
	bg *behind
}

// NewWriter returns a Writer appending at f's current offset (offset 0 for
// a new file, which is how the db uses it).
func NewWriter(f vfs.File) *Writer {
	return &Writer{f: f, buf: make([]byte, 0, bufSize)}
}

// NewMappedWriter returns a Writer for a new, empty file f that stores
// records into a shared memory mapping of f when f supports it
// (vfs.Mappable), its filesystem makes that safe and it can reserve blocks
// for it, and otherwise behaves as NewWriter. Records reach the page cache
// when WriteRecord returns, as after Flush on the write path, without a
// system call per record. The file grows a window of zeros at a time
// (1 MiB) until Close truncates it.
//
// A store into a mapping cannot return an error: if the kernel has no block
// for the page it kills the process with SIGBUS. The windows are reserved
// with fallocate first, which guarantees the blocks only where the
// filesystem writes in place, so the mapping is used on ext4, tmpfs and XFS
// without reflink (vfs.Mappable.CheckMapping, asked once per file). On
// copy-on-write filesystems (btrfs, bcachefs, ZFS, XFS with reflink),
// network, FUSE, overlay and unknown filesystems the records go through
// write(2), whose failures, a full disk among them, are returned like any
// other and break the Writer.
func NewMappedWriter(f vfs.File) *Writer {
	w := &Writer{f: f}
	if m, ok := f.(vfs.Mappable); ok && m.CheckMapping() == nil {
		w.m = m
		w.pfDone = make(chan struct{}, 1)
		w.wbDone = make(chan struct{}, 1)
		w.pageSize = os.Getpagesize()
		if err := w.nextWindow(); err == nil {
			return w
		}
		// No fallocate (or mmap) here: keep to write calls. The failed
		// attempt wrote nothing, though a window it reserved may remain
		// as zeros after the records, which a Reader takes as the clean
		// end of the log.
		w.m, w.err = nil, nil
	}
	w.buf = make([]byte, 0, bufSize)
	return w
}

// NewWriteBehindWriter returns a Writer appending at f's current offset
// that hands records to a goroutine of its own, which writes them to f as
// fast as f takes them, many records per write call: WriteRecord makes no
// system call but, per 64 KiB of records, to wake the goroutine, which
// otherwise wakes 200 µs after the first record it has not written. A
// record is then not in the operating system when WriteRecord returns, so
// a crash of the process may lose the latest records (the file keeps a
// prefix of them); Flush and Sync wait for them as for any Writer. At
// most 1 MiB of records waits (WriteRecord waits beyond), and a record of
// 64 KiB or more is written by WriteRecord itself, after the ones queued.
// A failed write in the goroutine breaks the Writer: the next call
// returns its error.
func NewWriteBehindWriter(f vfs.File) *Writer {
	return &Writer{f: f, bg: newBehind(f)}
}

// TakeBuffers has a write-behind Writer reuse the queue buffers of from,
// another one whose records are all written (after Flush): a new WAL
// takes its predecessor's at a memtable switch, rather than allocate
// and fault in a MiB or two of fresh memory. Otherwise it does nothing.
func (w *Writer) TakeBuffers(from *Writer) {
	if w.bg != nil && from.bg != nil {
		w.bg.takeBuffers(from.bg)
	}
}

// WritesBehind reports whether WriteRecord leaves records to a goroutine
// (NewWriteBehindWriter).
func (w *Writer) WritesBehind() bool { return w.bg != nil }

// mapped reports whether the Writer stores records through a mapping.
func (w *Writer) mapped() bool { return w.m != nil }

// MarkSyncs makes the Writer record its syncs in the file: after each Sync
// that succeeds, the next record is preceded by a sync marker holding the
// offset synced (see the package doc), so that recovery can tell damage in
// synced bytes from a crash's unsynced tail. Call it before the first
// record.
func (w *Writer) MarkSyncs() { w.markSyncs = true }

// WriteRecord buffers one record holding p. p may be reused when
// WriteRecord returns. The record is not durable until Sync returns nil.
// Empty payloads and payloads over maxPayload are rejected without breaking
// the Writer.
func (w *Writer) WriteRecord(p []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	if len(p) == 0 {
		return errEmptyRecord
	}
	if len(p) > maxPayload {
		return fmt.Errorf("%w: %d bytes, max %d", errRecordTooLarge, len(p), maxPayload)
	}
	if w.markSyncs && w.synced > w.marked {
		if err := w.writeMarker(); err != nil {
			return err
		}
	}
	return w.writeFramed(uint32(len(p)), p)
}

// writeMarker writes a sync marker reporting w.synced.
func (w *Writer) writeMarker() error {
	var m [16]byte
	binary.LittleEndian.PutUint64(m[:8], uint64(w.synced))
	binary.LittleEndian.PutUint64(m[8:], uint64(w.Size()))
	if err := w.writeFramed(markerLength, m[:]); err != nil {
		return err
	}
	w.marked = w.synced
	w.markEnd = w.Size()
	return nil
}

// writeFramed writes one record: the length field, the checksum and p.
func (w *Writer) writeFramed(length uint32, p []byte) error {
	h := w.hdr[:]
	putHeader(h, length, p)
	if w.m != nil {
		if w.writeThrough || len(p) >= mappedWriteMax {
			return w.writeAround(h, p)
		}
		if err := w.store(h); err != nil {
			return err
		}
		return w.store(p)
	}
	if w.bg != nil {
		var err error
		if len(p) >= behindDirectMin {
			err = w.bg.writeDirect(h, p)
		} else {
			err = w.bg.add(h, p)
		}
		if err != nil {
			w.err = err
			return err
		}
		w.written += int64(HeaderLen + len(p))
		return nil
	}
	n := HeaderLen + len(p)
	if len(w.buf)+n > cap(w.buf) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if n > cap(w.buf) {
		// Too large to buffer: write header and payload straight through.
		if err := w.write(h); err != nil {
			return err
		}
		return w.write(p)
	}
	w.buf = append(w.buf, h...)
	w.buf = append(w.buf, p...)
	return nil
}

// Flush writes buffered records to the file without syncing it.
func (w *Writer) Flush() error {
	if err := w.check(); err != nil {
		return err
	}
	return w.flush()
}

// Sync flushes buffered records and fsyncs the file. When Sync returns nil
// every record written so far is durable.
func (w *Writer) Sync() error {
	if err := w.check(); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("wal: sync: %w", err)
		return w.err
	}
	w.synced = w.Size()
	if w.m != nil && !w.writeThrough {
		// The fsync wrote back every dirty page of the file, the ones the
		// helper faulted in ahead of the records too, and the kernel
		// write-protects a page it writes back: the next store into each
		// takes a fault again, and the first one after an fsync waited
		// for hundreds of microseconds (64 KiB records synced one at a
		// time: 1.3 ms a put against 0.7 with write calls). A log that is
		// synced is written with write calls from then on, which also
		// spares each fsync the helper's pages of zeros; its fsyncs cost
		// far more than the calls.
		w.writeThrough = true
		w.waitPrefault()
	}
	return nil
}

// Marked reports whether the Writer has written a sync marker.
func (w *Writer) Marked() bool { return w.markEnd > 0 }

// Size returns the number of bytes of records written by this Writer,
// including those still buffered.
func (w *Writer) Size() int64 {
	if w.m != nil {
		return w.winOff + int64(w.winPos)
	}
	return w.written + int64(len(w.buf))
}

// Seal syncs the file and, with MarkSyncs, appends a sync marker for that
// sync and syncs again, so that the log says it had been synced whole; the
// Writer stays open. A caller about to start a newer log seals this one
// first: Close then writes nothing more, so a crash at any moment after
// the newer log exists cannot leave a torn record (a marker cut short) at
// the end of this one, where recovery would call it corruption.
func (w *Writer) Seal() error {
	if err := w.Sync(); err != nil {
		return err
	}
	if !w.markSyncs || w.Size() <= w.markEnd {
		return nil
	}
	if err := w.writeMarker(); err != nil {
		return err
	}
	return w.Sync()
}

// Close syncs and closes the file (a log sealed since its last record is
// not synced again). The file is closed even if the sync fails; the sync's
// error is returned. Later calls return an error wrapping
// base.ErrClosed (or the earlier sticky error). With MarkSyncs, a log
// holding records not yet reported by a sync marker ends with one: Close
// syncs, appends the marker and syncs again, so that recovery knows the
// whole log had been synced.
func (w *Writer) Close() error {
	if w.closed {
		return w.check()
	}
	var err error
	if w.markSyncs && w.err == nil && w.Size() > w.markEnd {
		if w.Size() > w.synced {
			err = w.Sync()
		}
		if err == nil {
			err = w.writeMarker()
		}
	}
	// Every record was synced already when nothing was written since the
	// last Sync (a sealed log): then the trim need not be made durable
	// either, as the zeros it cuts read back as the clean end of the log.
	synced := w.err == nil && w.Size() == w.synced && w.Size() > 0
	if err == nil && w.m != nil {
		err = w.unmapAndTrim()
	}
	if err == nil && !synced {
		err = w.Sync()
	}
	return w.release(err)
}

// Abandon closes the file without syncing it or writing anything more to
// it (a mapped Writer still unmaps and trims its unused window); records
// still buffered are dropped. It is for a log whose records must not be
// recorded as synced (the db abandons the newest WAL when an older one
// could not be sealed), or whose records were all synced already (the
// manifest syncs each edit). Later calls return an error.
func (w *Writer) Abandon() error {
	if w.closed {
		return w.check()
	}
	var err error
	if w.m != nil {
		err = w.unmapAndTrim()
	}
	return w.release(err)
}

// release closes the file and the Writer for Close and Abandon, and
// returns err, else the file's close error.
func (w *Writer) release(err error) error {
	w.closed = true
	if w.bg != nil {
		// Close synced every record unless the Writer broke; Abandon
		// drops them.
		w.bg.end()
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close: %w", cerr)
	}
	if w.err == nil {
		w.err = fmt.Errorf("wal: writer: %w", base.ErrClosed)
	}
	return err
}

// check returns the sticky error, if any.
func (w *Writer) check() error { return w.err }

// store copies p into the mapping, moving to the next window as each fills.
func (w *Writer) store(p []byte) error {
	for len(p) > 0 {
		if w.winPos == len(w.win) {
			if err := w.nextWindow(); err != nil {
				return err
			}
		}
		if w.pfBusy && w.winOff+int64(w.winPos+len(p)) > w.pfFrom {
			w.waitPrefault() // never store beside the helper
		}
		n := copy(w.win[w.winPos:], p)
		w.winPos += n
		p = p[n:]
	}
	if !w.pfBusy && !w.writeThrough && w.winOff+int64(w.winPos)+prefaultLead > w.pfNext {
		w.prefaultNext()
	}
	return nil
}

// mappedWriteMax is the payload size from which a mapped Writer writes a
// record with a write call at its place in the file rather than storing it
// through the mapping. Stores into a mapping take a page fault per fresh
// page: the helper takes most of them ahead of small records, for which
// the mapping doubles throughput, but records of a kilobyte and more outran
// it, and waiting for it tripled the p99 latency of such puts, at no gain
// in throughput. The write lands in the same page-cache pages the mapping
// shows, so the records after it go on through the mapping.
const mappedWriteMax = 512

// vectoredWriteMin is the payload size from which writeAround hands the
// header and the payload to the file as two buffers of one vectored write
// (vfs.VectorWriter) rather than copy them into one. Measured on ext4
// (BenchmarkMappedWriteRecord): at 1 KiB the copy and one write call took
// 7% less than the vectored call, from 4 to 64 KiB the two were even, and
// at 1 MiB the copy made the record 5 times slower, allocating a new
// buffer each time.
const vectoredWriteMin = 64 << 10

// writeAround writes the record h, p with one write call at the log's end,
// moving the mapping's windows past it.
func (w *Writer) writeAround(h, p []byte) error {
	off := w.winOff + int64(w.winPos)
	end := off + HeaderLen + int64(len(p))
	if w.pfBusy && end > w.pfFrom {
		w.waitPrefault() // the helper must not store into these pages
	}
	// Reserve the windows the record reaches first: if the disk is full,
	// nothing of the record is written.
	for end > w.winOff+int64(len(w.win)) {
		if err := w.nextWindow(); err != nil {
			return err
		}
	}
	var err error
	if vw, ok := w.f.(vfs.VectorWriter); ok && len(p) >= vectoredWriteMin {
		// Header and payload in one call, without copying the payload.
		w.iov[0], w.iov[1] = h, p
		_, err = vw.WritevAt(w.iov[:], off)
		w.iov[1] = nil // do not keep the caller's payload
	} else {
		w.around = append(append(w.around[:0], h...), p...)
		_, err = w.f.WriteAt(w.around, off)
		if cap(w.around) > 1<<20 {
			w.around = nil // a huge record: do not keep its copy
		}
	}
	if err != nil {
		w.err = fmt.Errorf("wal: write at offset %d: %w", off, err)
		return w.err
	}
	w.winPos = int(end - w.winOff)
	w.pfNext = max(w.pfNext, end)
	return nil
}

// prefaultNext hands the helper the next chunk, starting at the first page
// past the records, in the current window or, once that is done, in the
// next one (mapped here for it).
func (w *Writer) prefaultNext() {
	pos := w.winOff + int64(w.winPos)
	ps := int64(w.pageSize)
	from := max(w.pfNext, (pos+ps-1)/ps*ps)
	m, mOff := w.win, w.winOff
	if end := w.winOff + int64(len(w.win)); from >= end {
		if w.next == nil && !w.mapNext() {
			// No room ahead of the records (a full disk): claim the next
			// window as done, so the records fill this one without a
			// retry per record; nextWindow tries once more and reports
			// what went wrong.
			w.pfNext = end + mapWindow
			return
		}
		m, mOff = w.next, end
	}
	to := min(from+prefaultChunk, mOff+int64(len(m)))
	if from >= to {
		return // both windows are faulted in
	}
	chunk, step := m[from-mOff:to-mOff], w.pageSize
	w.pfFrom, w.pfNext, w.pfBusy = from, to, true
	go func() {
		for i := 0; i < len(chunk); i += step {
			chunk[i] = 0 // the page is all zeros: the store only faults it in
		}
		w.pfDone <- struct{}{}
	}()
}

// mapNext allocates and maps the window after the current one, ahead of
// the records; false if that fails, which leaves the Writer as it was.
func (w *Writer) mapNext() bool {
	off := w.winOff + int64(len(w.win))
	if err := w.m.Allocate(off, mapWindow); err != nil {
		return false
	}
	next, err := w.m.Map(off, mapWindow)
	if err != nil {
		return false
	}
	w.next = next
	return true
}

// waitPrefault waits for the helper's chunk, before a store reaches it or
// its window is unmapped.
func (w *Writer) waitPrefault() {
	if w.pfBusy {
		<-w.pfDone
		w.pfBusy = false
	}
}

// startWriteback has the kernel start writing a full window to disk, so
// that the next Sync waits for one window rather than all of them. Only a
// log that has been synced gets it: the db syncs a log that takes only
// unsynced writes never, if its memtable is flushed first, and then its
// pages need never reach the disk. Queueing a window's writes takes a few
// hundred microseconds, so a goroutine does it off the write path. The
// call is only a hint: if it fails, Sync still writes the pages and
// reports any I/O error.
func (w *Writer) startWriteback(off, n int64) {
	w.waitWriteback()
	w.wbBusy = true
	go func() {
		_ = w.m.StartWriteback(off, n)
		w.wbDone <- struct{}{}
	}()
}

// waitWriteback waits for the writeback goroutine, before another starts
// or the file is closed.
func (w *Writer) waitWriteback() {
	if w.wbBusy {
		<-w.wbDone
		w.wbBusy = false
	}
}

// nextWindow unmaps the current window and allocates and maps the next one,
// breaking the Writer on failure.
func (w *Writer) nextWindow() error {
	off := w.winOff + int64(len(w.win))
	if w.win != nil {
		if w.pfBusy && w.pfFrom < off {
			w.waitPrefault() // the helper is in the window going away
		}
		if err := w.m.Unmap(w.win); err != nil {
			w.err = fmt.Errorf("wal: %w", err)
			return w.err
		}
		if w.synced > 0 {
			w.startWriteback(w.winOff, int64(len(w.win)))
		}
		w.win = nil
		w.winOff, w.winPos = off, 0
	}
	if w.next != nil {
		w.win, w.next = w.next, nil
		return nil
	}
	if err := w.m.Allocate(off, mapWindow); err != nil {
		w.err = fmt.Errorf("wal: %w", err)
		return w.err
	}
	win, err := w.m.Map(off, mapWindow)
	if err != nil {
		w.err = fmt.Errorf("wal: %w", err)
		return w.err
	}
	w.win, w.winOff, w.winPos = win, off, 0
	w.pfNext = max(w.pfNext, off)
	return nil
}

// unmapAndTrim releases the mapping and cuts the file's unused zeros.
func (w *Writer) unmapAndTrim() error {
	w.waitWriteback()
	w.waitPrefault()
	for _, m := range [][]byte{w.win, w.next} {
		if m == nil {
			continue
		}
		if err := w.m.Unmap(m); err != nil {
			w.err = fmt.Errorf("wal: %w", err)
			return w.err
		}
	}
	w.win, w.next = nil, nil
	if err := w.f.Truncate(w.winOff + int64(w.winPos)); err != nil {
		w.err = fmt.Errorf("wal: truncate: %w", err)
		return w.err
	}
	return nil
}

// flush writes the buffer, or the write-behind queue, to the file.
func (w *Writer) flush() error {
	if w.bg != nil {
		if err := w.bg.drain(); err != nil {
			w.err = err
			return err
		}
		return nil
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// write writes p to the file, breaking the Writer on failure.
func (w *Writer) write(p []byte) error {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("wal: write at offset %d: %w", w.written, err)
		return w.err
	}
	return nil
}
