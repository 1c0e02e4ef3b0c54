package base

import (
	"errors"
	"testing"
)

func TestFilenames(t *testing.T) {
	for _, tc := range []struct {
		ft  FileType
		num FileNum
	}{{FileTypeTable, 12}, {FileTypeLog, 1}, {FileTypeManifest, 1234567}} {
		name := MakeFilename(tc.ft, tc.num)
		if ft, num := ParseFilename(name); ft != tc.ft || num != tc.num {
			t.Fatalf("%s parsed as %v %d", name, ft, num)
		}
	}
	for _, name := range []string{"12.sst", "x.log", "MANIFEST-", "MANIFEST-12", "notes.txt", "000012.sst.bak",
		"user-export.tmp", "CURRENT.tmp", "CURRENT.x.tmp", "+00012.sst", "0000012.log"} {
		if ft, _ := ParseFilename(name); ft != FileTypeUnknown {
			t.Fatalf("%s parsed as %v", name, ft)
		}
	}
	if ft, _ := ParseFilename("CURRENT.000003.tmp"); ft != FileTypeTemp {
		t.Fatal("temp file not recognised")
	}
}

func TestInternalKeyOrderAndEncoding(t *testing.T) {
	a := MakeInternalKey([]byte("k"), 9, KindSet)
	b := MakeInternalKey([]byte("k"), 3, KindDelete)
	if CompareInternal(a, b) >= 0 {
		t.Fatal("newer version must sort first")
	}
	buf := a.AppendEncoded(nil)
	got, ok := DecodeInternalKey(buf)
	if !ok || CompareInternal(got, a) != 0 || got.SeqNum() != 9 || got.Kind() != KindSet {
		t.Fatalf("round trip: %v", got)
	}
	if _, ok := DecodeInternalKey([]byte{1, 2}); ok {
		t.Fatal("short key decoded")
	}
	err := Corruptf("000012.sst", "page 37", "checksum mismatch")
	if !errors.Is(err, ErrCorruption) || err.Error() != "strata: corruption: 000012.sst page 37: checksum mismatch" {
		t.Fatalf("corruption error: %v", err)
	}
}
