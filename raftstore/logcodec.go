package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// logFormatVersion is the first byte of every encoded raft.Log. It must
// never change meaning: a new layout takes a new version, and decodeLog
// keeps reading the old ones.
const logFormatVersion = 1

// Flags of an encoded raft.Log.
const (
	logFlagAppendedAt = 1 << 0 // the entry carries an AppendedAt time
	logFlagsKnown     = logFlagAppendedAt
)

// errBadLog is wrapped by every decoding failure of a stored raft.Log.
var errBadLog = errors.New("malformed log entry")

// appendLog appends the encoding of l to dst (see the package comment
// for the layout).
func appendLog(dst []byte, l *raft.Log) []byte {
	dst = append(dst, logFormatVersion)
	var flags byte
	if !l.AppendedAt.IsZero() {
		flags |= logFlagAppendedAt
	}
	dst = append(dst, flags, byte(l.Type))
	dst = binary.AppendUvarint(dst, l.Index)
	dst = binary.AppendUvarint(dst, l.Term)
	if flags&logFlagAppendedAt != 0 {
		dst = binary.AppendVarint(dst, l.AppendedAt.Unix())
		dst = binary.AppendUvarint(dst, uint64(l.AppendedAt.Nanosecond()))
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	return dst
}

// decodeLog decodes b into l. Data and Extensions alias b. Any input is
// safe: bytes that are not a whole, valid encoding give an error wrapping
// errBadLog, never a panic.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 3 {
		return fmt.Errorf("%w: %d bytes, shorter than its header", errBadLog, len(b))
	}
	if b[0] != logFormatVersion {
		return fmt.Errorf("%w: unknown format version %d", errBadLog, b[0])
	}
	flags := b[1]
	if flags&^logFlagsKnown != 0 {
		return fmt.Errorf("%w: unknown flags %#x", errBadLog, flags)
	}
	typ := raft.LogType(b[2])
	r := reader{buf: b[3:]}
	index := r.uvarint("index")
	term := r.uvarint("term")
	var at time.Time
	if flags&logFlagAppendedAt != 0 {
		sec := r.varint("appended-at seconds")
		nsec := r.uvarint("appended-at nanoseconds")
		if r.err == nil && nsec >= uint64(time.Second) {
			r.err = fmt.Errorf("%w: appended-at nanoseconds %d out of range", errBadLog, nsec)
		}
		at = time.Unix(sec, int64(nsec))
	}
	data := r.bytes("data")
	ext := r.bytes("extensions")
	if r.err == nil && len(r.buf) != 0 {
		r.err = fmt.Errorf("%w: %d bytes past its end", errBadLog, len(r.buf))
	}
	if r.err != nil {
		return r.err
	}
	*l = raft.Log{Index: index, Term: term, Type: typ, Data: data, Extensions: ext, AppendedAt: at}
	return nil
}

// reader takes fields off the front of buf; the first failure sticks in
// err and every later read returns zero values.
type reader struct {
	buf []byte
	err error
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint in %s", errBadLog, field)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint in %s", errBadLog, field)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// bytes reads a uvarint length and that many bytes. An empty field
// decodes as nil, as raft builds entries without data.
func (r *reader) bytes(field string) []byte {
	n := r.uvarint(field + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%w: %s of %d bytes, %d left", errBadLog, field, n, len(r.buf))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := r.buf[:n:n]
	r.buf = r.buf[n:]
	return v
}
