package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

func genKey(t *rapid.T, label string) base.InternalKey {
	return base.MakeInternalKey(
		rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, label+"-key"),
		base.SeqNum(rapid.Uint64Range(0, uint64(base.MaxSeqNum)).Draw(t, label+"-seq")),
		base.Kind(rapid.IntRange(0, int(base.KindMax)).Draw(t, label+"-kind")),
	)
}

func genMeta(t *rapid.T, fn base.FileNum) FileMeta {
	a, b := genKey(t, "a"), genKey(t, "b")
	if base.CompareInternal(a, b) > 0 {
		a, b = b, a
	}
	s1, s2 := rapid.Uint64().Draw(t, "s1"), rapid.Uint64().Draw(t, "s2")
	m := FileMeta{
		FileNum:         fn,
		Size:            rapid.Uint64().Draw(t, "size"),
		Run:             rapid.Uint64Range(0, 5).Draw(t, "run"),
		Smallest:        a,
		Largest:         b,
		SmallestSeq:     base.SeqNum(min(s1, s2)),
		LargestSeq:      base.SeqNum(max(s1, s2)),
		Entries:         rapid.Uint64().Draw(t, "entries"),
		BloomBitsPerKey: rapid.Float64Range(0, 64).Draw(t, "bits"),
	}
	if rapid.IntRange(0, 3).Draw(t, "ingested") == 0 {
		g := base.SeqNum(rapid.Uint64Range(1, uint64(base.MaxSeqNum)).Draw(t, "global"))
		m.GlobalSeq, m.SmallestSeq, m.LargestSeq = g, g, g
	}
	return m
}

func genEdit(t *rapid.T) *VersionEdit {
	e := &VersionEdit{
		LogNum:      base.FileNum(rapid.Uint64().Draw(t, "log")),
		NextFileNum: base.FileNum(rapid.Uint64().Draw(t, "next")),
		LastSeq:     base.SeqNum(rapid.Uint64().Draw(t, "last")),
		PageSize:    rapid.SampledFrom([]uint64{0, 1024, 4096, 65536}).Draw(t, "pageSize"),
	}
	for range rapid.IntRange(0, 5).Draw(t, "nnew") {
		e.NewFiles = append(e.NewFiles, NewFile{
			Level: rapid.IntRange(0, maxLevels-1).Draw(t, "level"),
			Meta:  genMeta(t, base.FileNum(rapid.Uint64Range(1, math.MaxUint64).Draw(t, "fn"))),
		})
	}
	for range rapid.IntRange(0, 5).Draw(t, "ndel") {
		e.DeletedFiles = append(e.DeletedFiles, DeletedFile{
			Level:   rapid.IntRange(0, maxLevels-1).Draw(t, "dlevel"),
			FileNum: base.FileNum(rapid.Uint64().Draw(t, "dfn")),
		})
	}
	return e
}

func keysEqual(a, b base.InternalKey) bool {
	return bytes.Equal(a.UserKey, b.UserKey) && a.Trailer == b.Trailer
}

func metasEqual(a, b FileMeta) bool {
	return a.FileNum == b.FileNum && a.Size == b.Size && a.Run == b.Run &&
		keysEqual(a.Smallest, b.Smallest) && keysEqual(a.Largest, b.Largest) &&
		a.SmallestSeq == b.SmallestSeq && a.LargestSeq == b.LargestSeq &&
		a.Entries == b.Entries && a.BloomBitsPerKey == b.BloomBitsPerKey
}

func editsEqual(a, b *VersionEdit) bool {
	if a.LogNum != b.LogNum || a.NextFileNum != b.NextFileNum || a.LastSeq != b.LastSeq || a.PageSize != b.PageSize ||
		len(a.NewFiles) != len(b.NewFiles) || len(a.DeletedFiles) != len(b.DeletedFiles) {
		return false
	}
	for i := range a.NewFiles {
		if a.NewFiles[i].Level != b.NewFiles[i].Level || !metasEqual(a.NewFiles[i].Meta, b.NewFiles[i].Meta) {
			return false
		}
	}
	for i := range a.DeletedFiles {
		if a.DeletedFiles[i] != b.DeletedFiles[i] {
			return false
		}
	}
	return true
}

func TestEditRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEdit(t)
		enc := e.encode(nil)
		var got VersionEdit
		if err := got.decode(enc); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !editsEqual(e, &got) {
			t.Fatalf("round trip:\n%+v\n%+v", e, got)
		}
		// Decoded keys do not alias the input.
		for i := range enc {
			enc[i] = 0xff
		}
		if !editsEqual(e, &got) {
			t.Fatal("decoded edit aliases its input")
		}
		// Every proper prefix is rejected (or decodes to a different edit
		// when it ends at a field boundary), never panics.
		enc = e.encode(nil)
		cut := rapid.IntRange(0, len(enc)).Draw(t, "cut")
		var p VersionEdit
		if err := p.decode(enc[:cut]); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("prefix error %v is not corruption", err)
		}
	})
}

func TestEditWorkedExample(t *testing.T) {
	e := &VersionEdit{LogNum: 5, DeletedFiles: []DeletedFile{{Level: 1, FileNum: 12}}}
	if got, want := e.encode(nil), []byte{1, 5, 5, 1, 12}; !bytes.Equal(got, want) {
		t.Fatalf("encoding % x, want % x", got, want)
	}
	var empty VersionEdit
	if enc := empty.encode(nil); len(enc) != 0 {
		t.Fatalf("empty edit encodes to % x", enc)
	}
	if err := empty.decode(nil); err != nil {
		t.Fatalf("decode empty: %v", err)
	}
}

func TestEditDecodeRejects(t *testing.T) {
	good := &VersionEdit{NewFiles: []NewFile{{Level: 2, Meta: FileMeta{
		FileNum: 9, Smallest: base.MakeInternalKey([]byte("a"), 1, base.KindSet),
		Largest: base.MakeInternalKey([]byte("z"), 1, base.KindSet), BloomBitsPerKey: 10,
	}}}}
	enc := good.encode(nil)
	withFloat := func(f float64) []byte {
		d := append([]byte(nil), enc...)
		binary.LittleEndian.PutUint64(d[len(d)-8:], math.Float64bits(f))
		return d
	}
	cases := map[string][]byte{
		"unknown tag":        {99, 1},
		"tag zero":           {0},
		"repeated scalar":    {1, 5, 1, 6},
		"repeated page size": {6, 0x80, 0x08, 6, 0x80, 0x08},
		"truncated varint":   {1, 0x80},
		"bad varint":         {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"level too big":      {5, 64, 1},
		"level huge":         {5, 0xff, 0xff, 0x03, 1},
		"missing filenum":    {5, 1},
		"truncated file":     enc[:len(enc)-3],
		"trailing garbage":   append(append([]byte(nil), enc...), 7),
		"short key":          {4, 0, 1, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7},
		"absurd key":         {4, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"key past end":       {4, 0, 1, 0, 0, 20, 1, 2, 3},
		"NaN bits":           withFloat(math.NaN()),
		"Inf bits":           withFloat(math.Inf(1)),
		"negative bits":      withFloat(-1),
	}
	for name, data := range cases {
		var e VersionEdit
		err := e.decode(data)
		if !errors.Is(err, base.ErrCorruption) {
			t.Errorf("%s: Decode = %v, want corruption", name, err)
		}
		if !editsEqual(&e, &VersionEdit{}) {
			t.Errorf("%s: edit not reset after error: %+v", name, e)
		}
	}
}

func FuzzDecodeEdit(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 5, 5, 1, 12})
	full := &VersionEdit{LogNum: 3, NextFileNum: 10, LastSeq: 99, NewFiles: []NewFile{{Level: 1, Meta: FileMeta{
		FileNum: 7, Size: 4096, Run: 2, Smallest: base.MakeInternalKey([]byte("a"), 5, base.KindSet),
		Largest: base.MakeInternalKey([]byte("m"), 9, base.KindDelete), SmallestSeq: 5, LargestSeq: 9,
		Entries: 40, BloomBitsPerKey: 10,
	}}}, DeletedFiles: []DeletedFile{{Level: 0, FileNum: 4}}}
	f.Add(full.encode(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e VersionEdit
		if err := e.decode(data); err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("error %v is not corruption", err)
			}
			return
		}
		// A decodable edit re-encodes to something that decodes to the same
		// edit (the encoding is canonical up to zero-valued scalar fields
		// and the order of fields).
		var again VersionEdit
		if err := again.decode(e.encode(nil)); err != nil || !editsEqual(&e, &again) {
			t.Fatalf("re-encode: %v\n%+v\n%+v", err, e, again)
		}
	})
}
