package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// commandFormatVersion is the first byte of every FSM command. It must
// never change meaning.
const commandFormatVersion = 1

// Operations of an FSM command.
const (
	opPut    = 'p'
	opDelete = 'd'
)

// ErrBadCommand is wrapped by the error Apply returns (as its response)
// for log data that is not a command PutCommand or DeleteCommand made.
var ErrBadCommand = errors.New("raftstore: malformed command")

// command is a decoded FSM command.
type command struct {
	op         byte
	key, value []byte
}

// PutCommand returns the log data of a command that sets key to value in
// the FSM's map: pass it to raft.Raft.Apply.
//
//	version 1 | 'p' | uvarint len(key) | key | uvarint len(value) | value
func PutCommand(key, value []byte) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen32+len(key)+len(value))
	b = append(b, commandFormatVersion, opPut)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// DeleteCommand returns the log data of a command that removes key from
// the FSM's map (a missing key is no error).
//
//	version 1 | 'd' | uvarint len(key) | key
func DeleteCommand(key []byte) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen32+len(key))
	b = append(b, commandFormatVersion, opDelete)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(b, key...)
}

// decodeCommand decodes b; key and value alias it. Any input is safe: it
// returns an error wrapping ErrBadCommand, never panics.
func decodeCommand(b []byte) (command, error) {
	if len(b) < 2 {
		return command{}, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(b))
	}
	if b[0] != commandFormatVersion {
		return command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	c := command{op: b[1]}
	rest := b[2:]
	ok := true
	field := func() []byte {
		n, w := binary.Uvarint(rest)
		if !ok || w <= 0 || n > uint64(len(rest)-w) {
			ok = false
			return nil
		}
		v := rest[w : w+int(n) : w+int(n)]
		rest = rest[w+int(n):]
		return v
	}
	switch c.op {
	case opPut:
		c.key, c.value = field(), field()
	case opDelete:
		c.key = field()
	default:
		return command{}, fmt.Errorf("%w: unknown operation %#x", ErrBadCommand, c.op)
	}
	if !ok {
		return command{}, fmt.Errorf("%w: operation %q: a length past the end", ErrBadCommand, c.op)
	}
	if len(rest) != 0 {
		return command{}, fmt.Errorf("%w: %d bytes past its end", ErrBadCommand, len(rest))
	}
	return c, nil
}
