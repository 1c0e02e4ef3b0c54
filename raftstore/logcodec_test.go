package raftstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// FuzzDecodeLog: any bytes read back from the log store decode or fail
// with errBadLog, never panic; what decodes re-encodes to the same bytes.
func FuzzDecodeLog(f *testing.F) {
	f.Add(appendLog(nil, &raft.Log{}))
	f.Add(appendLog(nil, entry(42, 7)))
	f.Add(appendLog(nil, &raft.Log{Index: 1 << 60, Type: raft.LogConfiguration, Data: []byte("x"), AppendedAt: time.Unix(-1, 5)}))
	f.Add([]byte{logFormatVersion, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		err := decodeLog(b, &l)
		if err != nil {
			if !errors.Is(err, errBadLog) {
				t.Fatalf("error not wrapping errBadLog: %v", err)
			}
			return
		}
		// Varints have more than one encoding; a decoded entry must
		// still round-trip through its canonical one.
		var again raft.Log
		if err := decodeLog(appendLog(nil, &l), &again); err != nil || !sameLog(&l, &again) {
			t.Fatalf("re-encoding %+v: %+v, %v", l, again, err)
		}
	})
}

// TestLogEncodingExample pins the worked example of the package comment.
func TestLogEncodingExample(t *testing.T) {
	got := appendLog(nil, &raft.Log{Index: 5, Term: 2, Type: raft.LogCommand, Data: []byte("hi")})
	want := []byte{0x01, 0x00, 0x00, 0x05, 0x02, 0x02, 0x68, 0x69, 0x00}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded % x, want % x", got, want)
	}
}
