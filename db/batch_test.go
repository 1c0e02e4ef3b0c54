package db

import (
	"bytes"
	"errors"
	"testing"

	"github.com/seed-d6fe07da/strata/internal/base"
)

func TestBatchRoundTrip(t *testing.T) {
	b := &Batch{maxKey: 100}
	if err := b.Put([]byte("a"), []byte("xy")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete([]byte{0, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(nil, nil); err != nil {
		t.Fatal(err)
	}
	data := b.encoded(7)
	want := []byte{7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 1, 'a', 2, 'x', 'y'}
	if !bytes.HasPrefix(data, want) {
		t.Fatalf("encoding % x, want prefix % x", data, want)
	}
	var got []batchEntry
	err := decodeBatch(data, func(e batchEntry) error { got = append(got, e); return nil })
	if err != nil || len(got) != 3 || got[0].seq != 7 {
		t.Fatalf("decode: %v %+v", err, got)
	}
	if got[1].kind != base.KindDelete || got[1].seq != 8 || !bytes.Equal(got[1].key, []byte{0, 0xff}) {
		t.Fatalf("entry 1: %+v", got[1])
	}
	if err := b.Put(make([]byte, 101), nil); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("big key: %v", err)
	}
	if err := b.Put(nil, make([]byte, MaxValueSize+1)); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("big value: %v", err)
	}
	b.Reset()
	if b.Len() != 0 {
		t.Fatal("Reset kept entries")
	}
}

// FuzzDecodeBatch feeds arbitrary WAL payloads to the batch decoder: it must
// never panic, and what it accepts must re-encode to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	b := &Batch{}
	b.Put([]byte("key"), []byte("value"))
	b.Delete([]byte("gone"))
	f.Add(append([]byte(nil), b.encoded(1)...))
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []batchEntry
		err := decodeBatch(data, func(e batchEntry) error { entries = append(entries, e); return nil })
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("error does not wrap ErrCorruption: %v", err)
			}
			return
		}
		rb := &Batch{}
		for _, e := range entries {
			if e.kind == base.KindDelete {
				rb.Delete(e.key)
			} else {
				rb.add(e.kind, e.key, e.value, true)
			}
		}
		if len(entries) == 0 {
			return
		}
		// The input may spell a length with more varint bytes than needed
		// (which decodes the same), so compare what the re-encoding
		// decodes to, not its bytes.
		re := rb.encoded(entries[0].seq)
		var again []batchEntry
		if err := decodeBatch(re, func(e batchEntry) error { again = append(again, e); return nil }); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("re-encoding holds %d entries, want %d", len(again), len(entries))
		}
		for i := range entries {
			a, b := entries[i], again[i]
			if a.seq != b.seq || a.kind != b.kind || !bytes.Equal(a.key, b.key) || !bytes.Equal(a.value, b.value) {
				t.Fatalf("entry %d re-encodes as %+v, want %+v", i, b, a)
			}
		}
	})
}
