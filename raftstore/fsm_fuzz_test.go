package raftstore

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeCommand: any log data decodes or fails with ErrBadCommand.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(PutCommand([]byte("k"), []byte("v")))
	f.Add(PutCommand(nil, nil))
	f.Add(DeleteCommand([]byte("key")))
	f.Add([]byte{commandFormatVersion, opPut, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error not wrapping ErrBadCommand: %v", err)
			}
			return
		}
		var enc []byte
		if c.op == opPut {
			enc = PutCommand(c.key, c.value)
		} else {
			enc = DeleteCommand(c.key)
		}
		if c2, err := decodeCommand(enc); err != nil || c2.op != c.op || !bytes.Equal(c2.key, c.key) || !bytes.Equal(c2.value, c.value) {
			t.Fatalf("re-encoding %+v: %+v, %v", c, c2, err)
		}
	})
}

// FuzzReadArchive: any snapshot stream is unpacked or rejected, never
// panics, and never names a file outside the directory.
func FuzzReadArchive(f *testing.F) {
	var good bytes.Buffer
	tw := tar.NewWriter(&good)
	for _, name := range []string{"000004.sst", "CURRENT", "MANIFEST-000005"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 3, Mode: 0o644})
		tw.Write([]byte("abc"))
	}
	tw.Close()
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:700])
	var evil bytes.Buffer
	tw = tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../x", Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	f.Add(evil.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		create := func(name string) (io.Writer, error) {
			if !validArchiveName(name) {
				t.Fatalf("create called with %q", name)
			}
			return io.Discard, nil
		}
		_, err := readArchive(bytes.NewReader(b), create, func(string) error { return nil })
		if err != nil && !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("error not wrapping ErrBadSnapshot: %v", err)
		}
	})
}
