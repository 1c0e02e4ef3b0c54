package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// fataler is the part of testing.TB and *rapid.T the helpers use.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// writeAll writes the records and syncs, returning the file bytes.
func writeAll(t fataler, recs [][]byte) []byte {
	t.Helper()
	f := &memFile{}
	w := NewWriter(f)
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatalf("WriteRecord: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return f.data
}

// readAll replays data, returning the payloads and the final error.
func readAll(data []byte) (*Reader, [][]byte, error) {
	return readFile(&memFile{data: data})
}

// readFile replays f, returning the payloads and the final error.
func readFile(f *memFile) (*Reader, [][]byte, error) {
	r := NewReader(f, "000001.log")
	var out [][]byte
	for {
		p, err := r.Next()
		if err != nil {
			return r, out, err
		}
		out = append(out, append([]byte(nil), p...))
	}
}

func TestWorkedExample(t *testing.T) {
	data := writeAll(t, [][]byte{[]byte("a")})
	if len(data) != 9 || !bytes.Equal(data[:4], []byte{1, 0, 0, 0}) || data[8] != 'a' {
		t.Fatalf("encoding % x", data)
	}
	want := crc32c([]byte{1, 0, 0, 0, 'a'})
	if got := binary.LittleEndian.Uint32(data[4:8]); got != want {
		t.Fatalf("crc %#x, want %#x", got, want)
	}
}

// crc32c is an independent bit-at-a-time CRC-32C, to check the table one.
func crc32c(p []byte) uint32 {
	crc := ^uint32(0)
	for _, b := range p {
		crc ^= uint32(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 1, 3000), 0, 60).Draw(t, "recs")
		big := rapid.IntRange(0, 2).Draw(t, "big")
		for range big {
			// Larger than the writer's buffer: written straight through.
			recs = append(recs, bytes.Repeat([]byte{0xab}, bufSize+rapid.IntRange(-10, 10).Draw(t, "delta")))
		}
		data := writeAll(t, recs)
		r, got, err := readAll(data)
		if err != io.EOF {
			t.Fatalf("Next: %v", err)
		}
		if r.TornTail() {
			t.Fatal("clean file reported as torn")
		}
		if r.ValidLen() != int64(len(data)) {
			t.Fatalf("ValidLen %d, file %d", r.ValidLen(), len(data))
		}
		if len(got) != len(recs) {
			t.Fatalf("got %d records, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(got[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

func TestSizeAndFlush(t *testing.T) {
	f := &memFile{}
	w := NewWriter(f)
	if err := w.WriteRecord([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if w.Size() != HeaderLen+5 || len(f.data) != 0 {
		t.Fatalf("Size %d, file %d bytes before Flush", w.Size(), len(f.data))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(f.data) != HeaderLen+5 || f.syncs != 0 {
		t.Fatalf("after Flush: file %d bytes, %d syncs", len(f.data), f.syncs)
	}
	if err := w.Sync(); err != nil || f.syncs != 1 {
		t.Fatalf("Sync: %v, %d syncs", err, f.syncs)
	}
	if err := w.Close(); err != nil || !f.closed {
		t.Fatalf("Close: %v, closed %v", err, f.closed)
	}
	if err := w.WriteRecord([]byte("x")); !errors.Is(err, base.ErrClosed) {
		t.Fatalf("WriteRecord after Close: %v", err)
	}
}

func TestRejectsEmptyRecord(t *testing.T) {
	w := NewWriter(&memFile{})
	if err := w.WriteRecord(nil); !errors.Is(err, errEmptyRecord) {
		t.Fatalf("empty record: %v", err)
	}
	// The Writer is still usable.
	if err := w.WriteRecord([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestTornTailEveryOffset(t *testing.T) {
	recs := [][]byte{[]byte("first"), bytes.Repeat([]byte("second"), 50), []byte("third record")}
	data := writeAll(t, recs)
	lastStart := len(data) - (HeaderLen + len(recs[2]))
	for cut := lastStart; cut < len(data); cut++ {
		r, got, err := readAll(data[:cut])
		if err != io.EOF {
			t.Fatalf("cut %d: %v", cut, err)
		}
		wantTorn := cut != lastStart
		if r.TornTail() != wantTorn {
			t.Fatalf("cut %d: TornTail %v, want %v", cut, r.TornTail(), wantTorn)
		}
		if len(got) != 2 || !bytes.Equal(got[1], recs[1]) || r.ValidLen() != int64(lastStart) {
			t.Fatalf("cut %d: %d records, ValidLen %d", cut, len(got), r.ValidLen())
		}
	}
}

func TestCorruptLastRecordIsTorn(t *testing.T) {
	data := writeAll(t, [][]byte{[]byte("one"), []byte("two")})
	data[len(data)-1] ^= 1
	r, got, err := readAll(data)
	if err != io.EOF || !r.TornTail() || len(got) != 1 {
		t.Fatalf("err %v torn %v records %d", err, r.TornTail(), len(got))
	}
}

// TestTornRecordBeforeZeros is what a process killed in the middle of an
// append into a mapped log leaves: the start of a record, then the zeros of
// the rest of the window.
func TestTornRecordBeforeZeros(t *testing.T) {
	good := writeAll(t, [][]byte{[]byte("one")})
	last := writeAll(t, [][]byte{bytes.Repeat([]byte{'x'}, 50)})
	for _, cut := range []int{1, 4, 8, 9, 30, len(last) - 1} {
		data := append(append([]byte(nil), good...), last[:cut]...)
		data = append(data, make([]byte, 4096)...)
		r, got, err := readAll(data)
		if err != io.EOF || !r.TornTail() || len(got) != 1 || r.ValidLen() != int64(len(good)) {
			t.Fatalf("cut at %d: err %v torn %v records %d", cut, err, r.TornTail(), len(got))
		}
		// Anything non-zero after the bad record makes it corruption.
		data[len(data)-1] = 1
		if _, _, err := readAll(data); cut > 4 && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("cut at %d, non-zero tail: %v", cut, err)
		}
	}
}

func TestZeroedTail(t *testing.T) {
	good := writeAll(t, [][]byte{[]byte("one"), []byte("two")})
	for _, n := range []int{1, 7, 8, 9, 100, 3 * bufSize} {
		data := append(append([]byte(nil), good...), make([]byte, n)...)
		r, got, err := readAll(data)
		if err != io.EOF || r.TornTail() || len(got) != 2 || r.ValidLen() != int64(len(good)) {
			t.Fatalf("%d zeros: err %v torn %v records %d ValidLen %d", n, err, r.TornTail(), len(got), r.ValidLen())
		}
	}
	// Fewer bytes than a header: zeros are padding, anything else is torn.
	for n := 1; n < HeaderLen; n++ {
		data := append(append([]byte(nil), good...), make([]byte, n)...)
		data[len(data)-1] = 5
		r, got, err := readAll(data)
		if err != io.EOF || !r.TornTail() || len(got) != 2 || r.ValidLen() != int64(len(good)) {
			t.Fatalf("%d bytes ending non-zero: err %v torn %v records %d", n, err, r.TornTail(), len(got))
		}
	}
	// Zero length followed by something non-zero is corruption, even far away.
	for _, at := range []int{4, 8, 2*bufSize + 17} {
		data := append(append([]byte(nil), good...), make([]byte, 3*bufSize)...)
		data[len(good)+at] = 1
		_, got, err := readAll(data)
		if !errors.Is(err, base.ErrCorruption) || len(got) != 2 {
			t.Fatalf("non-zero at %d: err %v, %d records", at, err, len(got))
		}
	}
}

func TestCorruptMiddleRecord(t *testing.T) {
	recs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	data := writeAll(t, recs)
	second := HeaderLen + 3
	for _, tc := range []struct {
		name string
		mut  func(d []byte)
	}{
		{"payload bit", func(d []byte) { d[second+HeaderLen] ^= 0x10 }},
		{"crc bit", func(d []byte) { d[second+5] ^= 1 }},
		{"length smaller", func(d []byte) { d[second] = 2 }},
		{"length over max fits", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &memFile{data: append([]byte(nil), data...)}
			if tc.mut == nil {
				// A huge length whose record would still fit in the file,
				// which is padded with virtual zeros to more than 1 GiB.
				binary.LittleEndian.PutUint32(f.data[second:], maxPayload+1)
				f.pad = maxPayload + 10
			} else {
				tc.mut(f.data)
			}
			r, got, err := readFile(f)
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("err %v, want corruption", err)
			}
			var ce *base.CorruptionError
			if !errors.As(err, &ce) || ce.File != "000001.log" || ce.Where != "offset 11" {
				t.Fatalf("error %v does not name file and offset 11", err)
			}
			if len(got) != 1 || r.ValidLen() != int64(second) || r.TornTail() {
				t.Fatalf("%d records, ValidLen %d, torn %v", len(got), r.ValidLen(), r.TornTail())
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("second Next: %v, want sticky %v", err2, err)
			}
		})
	}
}

func TestOversizeLengthPastEOFIsTorn(t *testing.T) {
	data := writeAll(t, [][]byte{[]byte("one")})
	h := make([]byte, HeaderLen+10)
	binary.LittleEndian.PutUint32(h, 0xffffffff)
	h[5] = 1
	r, got, err := readAll(append(data, h...))
	if err != io.EOF || !r.TornTail() || len(got) != 1 {
		t.Fatalf("err %v torn %v records %d", err, r.TornTail(), len(got))
	}
}

func TestFailedSyncIsSticky(t *testing.T) {
	f := &memFile{}
	w := NewWriter(f)
	if err := w.WriteRecord([]byte("durable")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	f.syncErr = errInjected
	if err := w.WriteRecord([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	err := w.Sync()
	if !errors.Is(err, errInjected) {
		t.Fatalf("Sync: %v", err)
	}
	f.syncErr = nil // the disk "recovers": the Writer must not pretend
	for name, call := range map[string]func() error{
		"WriteRecord": func() error { return w.WriteRecord([]byte("more")) },
		"Flush":       w.Flush,
		"Sync":        w.Sync,
		"Close":       w.Close,
		"Close again": w.Close,
	} {
		if got := call(); got != err {
			t.Fatalf("%s after failed Sync: %v, want %v", name, got, err)
		}
	}
	if !f.closed {
		t.Fatal("Close did not close the file")
	}
}

func TestFailedWriteIsSticky(t *testing.T) {
	for _, short := range []bool{false, true} {
		f := &memFile{}
		if short {
			f.shortBy = 1
		} else {
			f.writeErr = errInjected
		}
		w := NewWriter(f)
		if err := w.WriteRecord([]byte("x")); err != nil {
			t.Fatal(err)
		}
		err := w.Flush()
		if err == nil {
			t.Fatalf("short=%v: Flush succeeded", short)
		}
		if short && !errors.Is(err, io.ErrShortWrite) {
			t.Fatalf("short write: %v", err)
		}
		f.writeErr, f.shortBy = nil, 0
		if got := w.Sync(); got != err {
			t.Fatalf("Sync after failed write: %v", got)
		}
		if f.syncs != 0 {
			t.Fatal("synced after a failed write")
		}
	}
}

func TestBigRecordWriteThroughFailure(t *testing.T) {
	f := &memFile{writeErr: errInjected}
	w := NewWriter(f)
	if err := w.WriteRecord(make([]byte, bufSize+1)); !errors.Is(err, errInjected) {
		t.Fatalf("big record: %v", err)
	}
	if err := w.WriteRecord([]byte("x")); !errors.Is(err, errInjected) {
		t.Fatalf("after failure: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(writeAll(f, [][]byte{[]byte("a")}))
	f.Add(writeAll(f, [][]byte{[]byte("one"), []byte("two"), bytes.Repeat([]byte{7}, 300)}))
	f.Add(append(writeAll(f, [][]byte{[]byte("one")}), make([]byte, 20)...))
	f.Add(markedLog(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(&memFile{data: data}, "fuzz.log")
		for {
			p, err := r.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, base.ErrCorruption) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && !r.TornTail() {
					// A clean end leaves nothing but zero padding.
					if rest := data[r.ValidLen():]; len(bytes.Trim(rest, "\x00")) != 0 {
						t.Fatalf("clean EOF at %d of %d before non-zero bytes", r.ValidLen(), len(data))
					}
				}
				tail, err := ScanTail(&memFile{data: data}, r.ValidLen())
				if err != nil || tail.Synced > int64(len(data)) || tail.End > int64(len(data)) || tail.End < r.ValidLen() {
					t.Fatalf("ScanTail from %d of %d: %+v, %v", r.ValidLen(), len(data), tail, err)
				}
				return
			}
			if len(p) == 0 {
				t.Fatal("empty payload")
			}
			end := r.ValidLen()
			rec := data[end-HeaderLen-int64(len(p)) : end]
			if binary.LittleEndian.Uint32(rec[4:]) != crc32c(append(append([]byte(nil), rec[:4]...), p...)) {
				t.Fatal("record returned with a bad checksum")
			}
			if binary.LittleEndian.Uint32(rec[:4]) != uint32(len(p)) {
				t.Fatal("a sync marker returned as a record")
			}
			if !bytes.Equal(rec[HeaderLen:], p) {
				t.Fatal("payload differs from file bytes")
			}
			if r.SyncedTo() > end {
				t.Fatalf("SyncedTo %d past the records read, %d", r.SyncedTo(), end)
			}
		}
	})
}

// markedLog returns a log written with MarkSyncs: "one", a sync, "two" and
// "three", a sync, "four", then Close.
func markedLog(t fataler) []byte {
	f := &memFile{}
	w := NewWriter(f)
	w.MarkSyncs()
	for _, step := range []string{"one", "", "two", "three", "", "four"} {
		var err error
		if step == "" {
			err = w.Sync()
		} else {
			err = w.WriteRecord([]byte(step))
		}
		if err != nil {
			t.Fatalf("%q: %v", step, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return f.data
}

func TestSyncMarkers(t *testing.T) {
	data := markedLog(t)
	// one | marker(11) | two | three | marker(59) | four | marker(95)
	want := []int64{0, 11, 35, 46, 59, 83, 95, 119}
	offsets := []int64{0}
	for _, p := range []int{3, 16, 3, 5, 16, 4, 16} {
		offsets = append(offsets, offsets[len(offsets)-1]+HeaderLen+int64(p))
	}
	if !slicesEqual(offsets, want) || int64(len(data)) != want[len(want)-1] {
		t.Fatalf("%d bytes, record offsets %v", len(data), offsets)
	}
	for i, synced := range map[int]int64{1: 11, 4: 59, 6: 95} {
		m := data[offsets[i]:offsets[i+1]]
		if binary.LittleEndian.Uint32(m) != 0x80000010 || int64(binary.LittleEndian.Uint64(m[8:])) != synced ||
			int64(binary.LittleEndian.Uint64(m[16:])) != offsets[i] {
			t.Fatalf("marker %d: % x, want one for offset %d at %d", i, m, synced, offsets[i])
		}
		if binary.LittleEndian.Uint32(m[4:]) != crc32c(append(append([]byte(nil), m[:4]...), m[8:]...)) {
			t.Fatalf("marker %d: bad checksum", i)
		}
	}
	r, recs, err := readAll(data)
	if err != io.EOF || len(recs) != 4 || string(recs[3]) != "four" {
		t.Fatalf("read %q, %v", recs, err)
	}
	if r.SyncedTo() != 95 || r.ValidLen() != 119 {
		t.Fatalf("SyncedTo %d, ValidLen %d", r.SyncedTo(), r.ValidLen())
	}

	// Damage to "three" (synced by the second Sync): the markers after
	// it show it, and the marker in the damaged record's own place does
	// not count.
	bad := append([]byte(nil), data...)
	bad[offsets[3]+9] ^= 1
	r, recs, err = readAll(bad)
	if !errors.Is(err, base.ErrCorruption) || len(recs) != 2 || r.ValidLen() != offsets[3] {
		t.Fatalf("damaged third record: %q, %v at %d", recs, err, r.ValidLen())
	}
	tail, err := ScanTail(&memFile{data: bad}, r.ValidLen())
	if err != nil || tail.Synced != 95 || tail.Marker != 95 || tail.End != 120-8 {
		t.Fatalf("ScanTail: %+v, %v", tail, err)
	}

	// Damage to "four", past the last Sync but before Close's: only the
	// marker Close wrote shows it had been synced.
	bad = append([]byte(nil), data...)
	bad[offsets[5]+9] ^= 1
	r, _, _ = readAll(bad)
	if tail, _ := ScanTail(&memFile{data: bad}, r.ValidLen()); tail.Synced != 95 {
		t.Fatalf("ScanTail after damage to the last record: %+v", tail)
	}
	bad = bad[:offsets[6]] // Close's marker never reached the disk
	r, _, _ = readAll(bad)
	if tail, _ := ScanTail(&memFile{data: bad}, r.ValidLen()); tail.Synced != 0 || tail.End != offsets[6] {
		t.Fatalf("ScanTail of an unsynced damaged tail: %+v", tail)
	}
}

// TestScanTailAcrossChunks finds a marker that straddles ScanTail's read
// chunks, and the last non-zero byte past a long run of zeros.
func TestScanTailAcrossChunks(t *testing.T) {
	for _, at := range []int{1<<20 - 20, 1<<20 - 5, 1 << 20, 3<<20 + 7} {
		data := make([]byte, at+markerLen+5000)
		var m [16]byte
		binary.LittleEndian.PutUint64(m[:8], 100)
		binary.LittleEndian.PutUint64(m[8:], uint64(at))
		putHeader(data[at:], markerLength, m[:])
		copy(data[at+HeaderLen:], m[:])
		tail, err := ScanTail(&memFile{data: data}, 10)
		if err != nil || tail.Synced != 100 || tail.Marker != int64(at) || tail.End <= int64(at+HeaderLen) {
			t.Fatalf("marker at %d: %+v, %v", at, tail, err)
		}
		// The same marker copied one byte further (inside a payload, say)
		// names another place and does not count.
		moved := make([]byte, len(data)+1)
		copy(moved[at+1:], data[at:at+markerLen])
		if tail, _ := ScanTail(&memFile{data: moved}, 10); tail.Synced != 0 {
			t.Fatalf("a marker away from its place counted: %+v", tail)
		}
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOldSyncMarkers: a log written with the first form of sync marker
// (length 0x80000008, the synced offset alone) still replays whole, its
// markers count toward Synced, and ScanTail finds one past a damaged
// record. Before, the reader took the marker for a torn record and
// recovery cut synced records off.
func TestOldSyncMarkers(t *testing.T) {
	frame := func(lengthField uint32, p []byte) []byte {
		var h [HeaderLen]byte
		binary.LittleEndian.PutUint32(h[:4], lengthField)
		binary.LittleEndian.PutUint32(h[4:], recordCRC(h[:4], p))
		return append(h[:], p...)
	}
	var data []byte
	data = append(data, frame(3, []byte("one"))...)
	data = append(data, frame(3, []byte("two"))...)
	synced := int64(len(data))
	data = append(data, frame(oldMarkerLength, binary.LittleEndian.AppendUint64(nil, uint64(synced)))...)
	data = append(data, frame(5, []byte("three"))...)
	r, recs, err := readAll(data)
	if err != io.EOF || len(recs) != 3 || string(recs[2]) != "three" || r.SyncedTo() != synced {
		t.Fatalf("read %q, %v, synced to %d", recs, err, r.SyncedTo())
	}
	bad := append([]byte(nil), data...)
	bad[HeaderLen+1] ^= 1 // damage "one", which the marker shows was synced
	r, _, err = readAll(bad)
	if !errors.Is(err, base.ErrCorruption) && !r.TornTail() {
		t.Fatalf("damaged first record: %v", err)
	}
	tail, err := ScanTail(&memFile{data: bad}, r.ValidLen())
	if err != nil || tail.Synced != synced {
		t.Fatalf("ScanTail past the damage: %+v, %v; want synced %d", tail, err, synced)
	}
}

// TestLogShrinkingUnderReader: a log whose owner trims its unused window of
// zeros while a read-only reader is part way through it (the strata
// command beside a running application) ends cleanly where the records
// end, rather than failing with an unexpected EOF.
func TestLogShrinkingUnderReader(t *testing.T) {
	var recs [][]byte
	for i := 0; i < 100; i++ {
		recs = append(recs, bytes.Repeat([]byte{byte(i + 1)}, 1000))
	}
	data := writeAll(t, recs)
	end := len(data)
	f := &memFile{data: append(data, make([]byte, 200<<10)...)} // a mapped writer's window
	r := NewReader(f, "000001.log")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	f.data = f.data[:end] // the owner closed the log, trimming the zeros
	n := 1
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d records: %v", n, err)
		}
		n++
	}
	if n != len(recs) || r.TornTail() {
		t.Fatalf("read %d of %d records, torn %v", n, len(recs), r.TornTail())
	}
}

// shrinkingFile is a log whose writer trims its window of zeros right
// after a reader has taken its size.
type shrinkingFile struct {
	*memFile
	trimTo int
}

func (f *shrinkingFile) Size() (int64, error) {
	size := int64(len(f.data))
	f.data = f.data[:f.trimTo]
	return size, nil
}

// TestScanTailOfShrinkingLog: a log that shrinks while ScanTail reads it
// (a read-only open beside the writer that closes it) is scanned up to
// its new end; ScanTail failed on the short read before.
func TestScanTailOfShrinkingLog(t *testing.T) {
	data := writeAll(t, [][]byte{bytes.Repeat([]byte{7}, 1000), bytes.Repeat([]byte{8}, 1000)})
	end := len(data)
	f := &shrinkingFile{memFile: &memFile{data: append(data, make([]byte, 200<<10)...)}, trimTo: end}
	tail, err := ScanTail(f, 0)
	if err != nil {
		t.Fatalf("ScanTail of a log trimmed under it: %v", err)
	}
	if tail.End != int64(end) {
		t.Fatalf("End = %d, want %d", tail.End, end)
	}
}
