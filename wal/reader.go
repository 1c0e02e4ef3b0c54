package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/vfs"
)

// Reader replays the records of a file from offset 0. It reads through a
// buffer with ReadAt, so it does not move the file's offset.
type Reader struct {
	f       vfs.File
	name    string
	br      *bufio.Reader
	size    int64  // file size, read on the first Next
	off     int64  // offset of the next record
	payload []byte // scratch for the last payload returned
	err     error  // sticky result once reading has stopped
	torn    bool
	started bool
	synced  int64           // the largest offset a sync marker read so far reported
	hdr     [HeaderLen]byte // header scratch, kept here so it does not escape
}

// NewReader returns a Reader over f. name identifies the file in errors.
func NewReader(f vfs.File, name string) *Reader {
	return &Reader{f: f, name: name}
}

// Next returns the next record's payload, valid until the next call. At the
// clean end of the file, or at a torn tail (see the package doc), it
// returns io.EOF; TornTail tells the two apart. A corrupt record yields an
// error wrapping base.ErrCorruption; I/O errors are returned wrapped. Once
// Next has returned an error it returns the same error forever.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.started {
		r.started = true
		size, err := r.f.Size()
		if err != nil {
			r.err = fmt.Errorf("wal: %s: size: %w", r.name, err)
			return nil, r.err
		}
		r.size = size
		r.br = bufio.NewReaderSize(io.NewSectionReader(r.f, r.off, size-r.off), bufSize)
	}
	p, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return p, nil
}

func (r *Reader) next() ([]byte, error) {
	for {
		p, marker, err := r.record()
		if err != nil || !marker {
			return p, err
		}
		synced, at := int64(binary.LittleEndian.Uint64(p)), r.off
		if len(p) == markerLen-HeaderLen {
			at = int64(binary.LittleEndian.Uint64(p[8:]))
		}
		if at != r.off || synced > r.off {
			return nil, r.corrupt("sync marker for offset %d says it is at %d", synced, at)
		}
		r.synced = max(r.synced, synced)
		r.off += HeaderLen + int64(len(p))
	}
}

// record reads the record at r.off: a payload (r.off then moves past it)
// or a sync marker's payload (marker true; the caller moves r.off).
func (r *Reader) record() (p []byte, marker bool, err error) {
	rem := r.size - r.off
	if rem == 0 {
		return nil, false, io.EOF
	}
	h := r.hdr[:]
	if rem < HeaderLen {
		// Too short for a header: zeros are padding, anything else the
		// start of a torn append.
		if _, err := io.ReadFull(r.br, h[:rem]); err != nil {
			return nil, false, r.readErr(err)
		}
		for _, b := range h[:rem] {
			if b != 0 {
				return r.tornTail()
			}
		}
		return nil, false, io.EOF
	}
	if _, err := io.ReadFull(r.br, h); err != nil {
		return nil, false, r.readErr(err)
	}
	raw := binary.LittleEndian.Uint32(h[0:4])
	length := int64(raw)
	switch raw {
	case markerLength:
		marker, length = true, markerLen-HeaderLen
	case oldMarkerLength:
		marker, length = true, oldMarkerLen-HeaderLen
	}
	sum := binary.LittleEndian.Uint32(h[4:8])
	end := HeaderLen + length // bytes from r.off to the end of the record
	switch {
	case length == 0:
		zero, err := r.restIsZero(h)
		if err != nil {
			return nil, false, err
		}
		if zero {
			// Padding: a mapped writer's unused window, or zeros a
			// filesystem left after a crash. The log ends here.
			return nil, false, io.EOF
		}
		return nil, false, r.corrupt("zero length followed by non-zero bytes")
	case end > rem:
		// Also covers lengths over maxPayload that run past the end.
		return r.tornTail()
	case length > maxPayload:
		return nil, false, r.corrupt("length %d over the maximum %d", length, maxPayload)
	}
	if int64(cap(r.payload)) < length {
		r.payload = make([]byte, length)
	}
	p = r.payload[:length]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return nil, false, r.readErr(err)
	}
	if got := recordCRC(h[0:4], p); got != sum {
		if end == rem {
			return r.tornTail()
		}
		// A record cut short by a crash and followed by nothing but zeros
		// (the rest of a mapped writer's window) is torn too.
		zero, err := r.restIsZero(nil)
		if err != nil {
			return nil, false, err
		}
		if zero {
			return r.tornTail()
		}
		return nil, false, r.corrupt("checksum mismatch: stored %#08x, computed %#08x", sum, got)
	}
	if !marker {
		r.off += end
	}
	return p, marker, nil
}

// restIsZero reports whether the header h and every byte after it up to the
// end of the file are zero.
func (r *Reader) restIsZero(h []byte) (bool, error) {
	for _, b := range h {
		if b != 0 {
			return false, nil
		}
	}
	for {
		chunk, err := r.br.Peek(bufSize)
		for _, b := range chunk {
			if b != 0 {
				return false, nil
			}
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return false, r.readErr(err)
		}
		if _, err := r.br.Discard(len(chunk)); err != nil {
			return false, r.readErr(err)
		}
	}
}

// tornTail records that reading stopped at a torn tail.
func (r *Reader) tornTail() ([]byte, bool, error) {
	r.torn = true
	return nil, false, io.EOF
}

// corrupt builds a corruption error for the record at r.off.
func (r *Reader) corrupt(format string, args ...any) error {
	return base.Corruptf(r.name, fmt.Sprintf("offset %d", r.off), format, args...)
}

// readErr wraps an I/O error. The size was checked before every read, so an
// early EOF means the file shrank under us: the process writing the log
// trimmed its unused window of zeros when it closed it, under a read-only
// open beside it. Only zeros went, so the log ends where the file now
// does (io.EOF, a clean end).
func (r *Reader) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if size, serr := r.f.Size(); serr == nil && size < r.size {
			return io.EOF
		}
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wal: %s: read at offset %d: %w", r.name, r.off, err)
}

// Resume has a Reader that stopped at a torn or damaged record read again
// from that record, up to the file's size now. It is for a log that
// another process may be appending to, where a record read half-written
// looks damaged until the writer finishes it.
func (r *Reader) Resume() {
	r.err, r.torn, r.started = nil, false, false
}

// ValidLen returns the offset just past the last good record returned: the
// length to truncate the file to before appending after a torn tail.
func (r *Reader) ValidLen() int64 { return r.off }

// TornTail reports whether reading stopped at a torn or incomplete record
// rather than at a clean end of file (or zero padding, which is one).
func (r *Reader) TornTail() bool { return r.torn }

// SyncedTo returns the largest offset that a sync marker read so far
// reported durable: every byte before it had been synced (see the package
// doc). 0 if none was read. Markers count only where a record starts, so
// bytes of a payload that look like one never do.
func (r *Reader) SyncedTo() int64 { return r.synced }

// Tail describes the bytes of a log from a damaged record on, as ScanTail
// found them.
type Tail struct {
	// Synced is the largest offset a well-formed sync marker in the tail
	// reports durable (0 if none), and Marker that marker's offset.
	Synced, Marker int64
	// End is the offset just past the tail's last non-zero byte: the
	// bytes from the damage to End held data; zeros after End are a
	// mapped writer's unused window.
	End int64
}

// ScanTail reads f from off, the offset of a damaged record, to its end.
// Recovery uses it to decide whether the damage may be dropped: a sync
// marker past the damage that reports more than off proves the damaged
// bytes had been synced (corruption, not a crash). Markers are looked for
// at every byte offset, since the damage hides where the records after it
// begin; one counts only with a good checksum, where it says it is, and
// claiming an offset no later than its own.
func ScanTail(f vfs.File, off int64) (Tail, error) {
	t := Tail{End: off}
	size, err := f.Size()
	if err != nil {
		return t, fmt.Errorf("wal: size: %w", err)
	}
	var pattern, oldPattern [4]byte
	binary.LittleEndian.PutUint32(pattern[:], markerLength)
	binary.LittleEndian.PutUint32(oldPattern[:], oldMarkerLength)
	const chunk = 1 << 20
	// Each read overlaps the next chunk by a marker's length less one, so
	// a marker across two chunks is seen whole, in the first.
	buf := make([]byte, chunk+markerLen-1)
	for at := off; at < size; at += chunk {
		want := int(min(int64(len(buf)), size-at))
		n, err := f.ReadAt(buf[:want], at)
		if n < want {
			// The log shrank under us, as for Reader.readErr: its writer
			// trimmed the zeros after its records. Scan what is left.
			if now, serr := f.Size(); serr == nil && now < size {
				size = now
				at -= chunk // this chunk again, up to the new end
				continue
			}
			return t, fmt.Errorf("wal: read at offset %d: %w", at, err)
		}
		b := buf[:n]
		if i := lastNonZero(b[:min(n, chunk)]); i >= 0 {
			t.End = at + int64(i) + 1
		}
		for i := 0; i < min(n, chunk); i++ {
			j := bytes.Index(b[i:], pattern[:])
			if j < 0 || i+j >= chunk || i+j+markerLen > n {
				break
			}
			i += j
			m := b[i : i+markerLen]
			pos := at + int64(i)
			s, says := int64(binary.LittleEndian.Uint64(m[HeaderLen:])), int64(binary.LittleEndian.Uint64(m[HeaderLen+8:]))
			if recordCRC(m[0:4], m[HeaderLen:]) == binary.LittleEndian.Uint32(m[4:8]) && says == pos && s <= pos && s > t.Synced {
				t.Synced, t.Marker = s, pos
			}
		}
		// Markers of the first form, which do not say where they are.
		for i := 0; i < min(n, chunk); i++ {
			j := bytes.Index(b[i:], oldPattern[:])
			if j < 0 || i+j >= chunk || i+j+oldMarkerLen > n {
				break
			}
			i += j
			m := b[i : i+oldMarkerLen]
			pos := at + int64(i)
			s := int64(binary.LittleEndian.Uint64(m[HeaderLen:]))
			if recordCRC(m[0:4], m[HeaderLen:]) == binary.LittleEndian.Uint32(m[4:8]) && s <= pos && s > t.Synced {
				t.Synced, t.Marker = s, pos
			}
		}
	}
	return t, nil
}

// lastNonZero returns the index of b's last non-zero byte, or -1.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i
		}
	}
	return -1
}
