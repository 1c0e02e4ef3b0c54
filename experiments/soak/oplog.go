package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The op log is how the oracle outlives the child. The child appends one
// line per record with a single write(2) (os.File.Write; no fsync: only
// the process dies, and the page cache keeps what write returned). Before
// each mutation it writes an intent, after the call returned nil an ack:
//
//	I <op> <writer> <kind> <write>...
//	A <op>
//
// kind is put, del, range or batch (for the counts); each write is P<i>
// (put key i, the value of version op<<4|position), D<i> (delete key i) or
// R<a>-<b> (delete keys a..b-1). For example
//
//	I 5121 0 put P1234
//	A 5121
//	I 5122 1 batch P10007 D10012 R10100-10120 P10007
//	I 5123 0 range R1200-1400
//	A 5122
//
// is a put of key 1234 acknowledged, a batch whose ack was written, and a
// range delete in flight when the child died. Both writers share the file;
// their lines interleave, but each writer's own lines are in order and it
// has at most one intent without an ack: the one in flight at the kill. A
// kill inside write(2) can leave a last line without its newline; that
// line is ignored (a torn intent never started its operation, a torn ack
// leaves its operation in flight, which the checker treats as undecided).

// write is one write of an operation.
type write struct {
	kind byte // 'P' put, 'D' delete, 'R' range delete of [a, b)
	a, b int
}

// intent is one mutation as logged before it was issued.
type intent struct {
	op     uint64
	writer int
	kind   string
	writes []write
}

// effects returns the state each key the intent touches has after it.
func (in *intent) effects() map[int]uint64 {
	eff := make(map[int]uint64)
	for j, w := range in.writes {
		switch w.kind {
		case 'P':
			eff[w.a] = version(in.op, j)
		case 'D':
			eff[w.a] = 0
		case 'R':
			for k := w.a; k < w.b; k++ {
				eff[k] = 0
			}
		}
	}
	return eff
}

// apply applies the intent to model.
func (in *intent) apply(model []uint64) {
	for j, w := range in.writes {
		switch w.kind {
		case 'P':
			model[w.a] = version(in.op, j)
		case 'D':
			model[w.a] = 0
		case 'R':
			clear(model[w.a:w.b])
		}
	}
}

func appendIntent(buf []byte, in *intent) []byte {
	buf = append(buf, "I "...)
	buf = strconv.AppendUint(buf, in.op, 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(in.writer), 10)
	buf = append(buf, ' ')
	buf = append(buf, in.kind...)
	for _, w := range in.writes {
		buf = append(buf, ' ', w.kind)
		buf = strconv.AppendInt(buf, int64(w.a), 10)
		if w.kind == 'R' {
			buf = append(buf, '-')
			buf = strconv.AppendInt(buf, int64(w.b), 10)
		}
	}
	return append(buf, '\n')
}

func appendAck(buf []byte, op uint64) []byte {
	buf = append(buf, "A "...)
	buf = strconv.AppendUint(buf, op, 10)
	return append(buf, '\n')
}

// opLog is a parsed op log.
type opLog struct {
	intents []*intent // in log order
	acked   map[uint64]bool
	maxOp   uint64
	torn    bool // the last line had no newline
}

// readOpLog parses the op log at path; a missing file is an empty log (the
// child died before creating it). n is the size of the key space, to
// reject writes outside it.
func readOpLog(path string, n int) (*opLog, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &opLog{acked: map[uint64]bool{}}, nil
	}
	if err != nil {
		return nil, err
	}
	l := &opLog{acked: make(map[uint64]bool)}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		l.torn = true
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	for lineNo, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		if err := l.parseLine(line, n); err != nil {
			return nil, fmt.Errorf("%s line %d %q: %w", path, lineNo+1, line, err)
		}
	}
	return l, nil
}

func (l *opLog) parseLine(line string, n int) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		return fmt.Errorf("short record")
	}
	op, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return err
	}
	l.maxOp = max(l.maxOp, op)
	switch f[0] {
	case "A":
		l.acked[op] = true
		return nil
	case "I":
	default:
		return fmt.Errorf("unknown record type %q", f[0])
	}
	if len(f) < 5 {
		return fmt.Errorf("intent without writes")
	}
	in := &intent{op: op, kind: f[3]}
	if in.writer, err = strconv.Atoi(f[2]); err != nil {
		return err
	}
	for _, s := range f[4:] {
		w := write{kind: s[0]}
		switch w.kind {
		case 'P', 'D':
			w.a, err = strconv.Atoi(s[1:])
			if err == nil && (w.a < 0 || w.a >= n) {
				err = fmt.Errorf("key %d outside the key space", w.a)
			}
		case 'R':
			a, b, ok := strings.Cut(s[1:], "-")
			if !ok {
				return fmt.Errorf("range %q without '-'", s)
			}
			if w.a, err = strconv.Atoi(a); err == nil {
				w.b, err = strconv.Atoi(b)
			}
			if err == nil && (w.a < 0 || w.a >= w.b || w.b > n) {
				err = fmt.Errorf("range %d-%d outside the key space", w.a, w.b)
			}
		default:
			err = fmt.Errorf("unknown write %q", s)
		}
		if err != nil {
			return err
		}
		in.writes = append(in.writes, w)
	}
	if len(in.writes) > maxBatch {
		return fmt.Errorf("%d writes in one operation", len(in.writes))
	}
	l.intents = append(l.intents, in)
	return nil
}
