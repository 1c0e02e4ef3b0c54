// Package manifest keeps the durable record of which SST files make up the
// database: an append-only log of version edits (files added and removed per
// level, the next file number, the last sequence number, the live WAL), the
// CURRENT file naming the live log, and recovery of the file set at open.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for db, package lsm and the strata tool's "manifest
// dump" (ReadEdits).
//
// # Files
//
// A manifest is a file MANIFEST-<num> (num printed with at least six
// digits) framed exactly like the write-ahead log: a sequence of records
// [uint32 LE length][uint32 LE CRC-32C of length and payload][payload], see
// package wal. The first record of every manifest is a snapshot: one edit
// that recreates the whole state, so a manifest never depends on an older
// one. Each later record is one edit, appended and fsynced before the change
// it describes is acted on.
//
// Each record's payload is one format-version byte followed by the edit:
//
//	+-----------------+--------------------------------------+
//	| version: 1 byte | VersionEdit encoding (may be empty)  |
//	+-----------------+--------------------------------------+
//
// The version is 1. A reader rejects any other value, so a future layout
// change bumps it.
//
// CURRENT holds the name of the live manifest and a newline, e.g.
// "MANIFEST-000007\n". It is replaced atomically: write CURRENT.<num>.tmp,
// fsync it, rename it over CURRENT, fsync the directory.
//
// # VersionEdit encoding
//
// An edit is a sequence of fields, each a uvarint tag followed by the
// field's value. Fields whose value is zero (unchanged) or empty are left
// out; each scalar field appears at most once, the list fields once per
// element. Integers are uvarints; keys are a uvarint length then that many
// bytes of the internal-key encoding of package base (user key followed by
// the 8-byte little-endian trailer), so a key is at least 8 bytes; float64
// values are their IEEE 754 bits as 8 little-endian bytes.
//
//	tag  field         value
//	1    LogNum        uvarint
//	2    NextFileNum   uvarint
//	3    LastSeq       uvarint
//	4    NewFile       level, file num, size, run (uvarints),
//	                   smallest key, largest key,
//	                   smallest seq, largest seq, entries (uvarints),
//	                   bloom bits per key (float64)
//	5    DeletedFile   level, file num (uvarints)
//	6    PageSize      uvarint: the SST page size of the database, in
//	                   every snapshot since it was added (older manifests
//	                   lack it)
//	7    NewFile with  the fields of tag 4, then the global seqnum
//	     GlobalSeq     (uvarint, non-zero): an ingested file
//
// Tag numbers and field orders must never change; new fields get new tags.
// decode rejects unknown tags, repeated scalar tags, levels outside
// [0, maxLevels), keys shorter than a trailer or longer than 16 MiB,
// negative, infinite or NaN bloom bits, truncated fields and trailing bytes.
//
// Worked example: the edit {LogNum: 5, DeletedFiles: [{Level: 1, FileNum:
// 12}]} encodes as
//
//	01 05  05 01 0c
//
// and, as a manifest record payload, 01 01 05 05 01 0c (version byte first).
package manifest

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// maxLevels bounds the level numbers an edit may name: [0, maxLevels).
const maxLevels = 64

// maxKeyLen bounds an encoded key in an edit. Keys are far smaller in
// practice; the bound only stops absurd lengths in corrupt input.
const maxKeyLen = 16 << 20

// Field tags of the edit encoding. Part of the on-disk format: never change.
const (
	tagLogNum      = 1
	tagNextFileNum = 2
	tagLastSeq     = 3
	tagNewFile     = 4
	tagDeletedFile = 5
	tagPageSize    = 6
	tagIngested    = 7
)

// editLabel names edits in corruption errors that have no file yet; Recover
// replaces it with the manifest's name and the record's offset.
const editLabel = "version edit"

// FileMeta describes one SST file of the tree.
type FileMeta struct {
	FileNum base.FileNum
	Size    uint64
	// Run is the id of the sorted run the file belongs to: files of one run
	// share it, and newer runs have larger ids.
	Run uint64
	// Smallest and Largest bound the file's keys (point keys and range
	// deletion bounds, as the db decides).
	Smallest, Largest       base.InternalKey
	SmallestSeq, LargestSeq base.SeqNum
	Entries                 uint64
	BloomBitsPerKey         float64
	// GlobalSeq, when non-zero, is the seqnum every entry of the file
	// reads as: the file was ingested (written outside the database with
	// every entry at seqnum 0). SmallestSeq and LargestSeq equal it.
	GlobalSeq base.SeqNum
}

// NewFile adds a file at a level.
type NewFile struct {
	Level int
	Meta  FileMeta
}

// DeletedFile removes a file from a level.
type DeletedFile struct {
	Level   int
	FileNum base.FileNum
}

// VersionEdit is one change to the file set, as logged in the manifest.
type VersionEdit struct {
	// LogNum, when non-zero, is the oldest live WAL: WALs with smaller
	// numbers are obsolete.
	LogNum base.FileNum
	// NextFileNum, when non-zero, is the next file number to allocate.
	NextFileNum base.FileNum
	// LastSeq, when non-zero, is the last sequence number used.
	LastSeq base.SeqNum
	// PageSize, when non-zero, is the page size of the database's SSTs,
	// fixed when it was created.
	PageSize uint64
	// NewFiles are added after DeletedFiles are removed, so one edit may
	// move a file between levels.
	NewFiles     []NewFile
	DeletedFiles []DeletedFile
}

// encode appends the edit's encoding to dst and returns the result.
func (e *VersionEdit) encode(dst []byte) []byte {
	if e.LogNum != 0 {
		dst = binary.AppendUvarint(dst, tagLogNum)
		dst = binary.AppendUvarint(dst, uint64(e.LogNum))
	}
	if e.NextFileNum != 0 {
		dst = binary.AppendUvarint(dst, tagNextFileNum)
		dst = binary.AppendUvarint(dst, uint64(e.NextFileNum))
	}
	if e.LastSeq != 0 {
		dst = binary.AppendUvarint(dst, tagLastSeq)
		dst = binary.AppendUvarint(dst, uint64(e.LastSeq))
	}
	if e.PageSize != 0 {
		dst = binary.AppendUvarint(dst, tagPageSize)
		dst = binary.AppendUvarint(dst, e.PageSize)
	}
	for _, d := range e.DeletedFiles {
		dst = binary.AppendUvarint(dst, tagDeletedFile)
		dst = binary.AppendUvarint(dst, uint64(d.Level))
		dst = binary.AppendUvarint(dst, uint64(d.FileNum))
	}
	for _, nf := range e.NewFiles {
		m := &nf.Meta
		if m.GlobalSeq != 0 {
			dst = binary.AppendUvarint(dst, tagIngested)
		} else {
			dst = binary.AppendUvarint(dst, tagNewFile)
		}
		dst = binary.AppendUvarint(dst, uint64(nf.Level))
		dst = binary.AppendUvarint(dst, uint64(m.FileNum))
		dst = binary.AppendUvarint(dst, m.Size)
		dst = binary.AppendUvarint(dst, m.Run)
		dst = appendKey(dst, m.Smallest)
		dst = appendKey(dst, m.Largest)
		dst = binary.AppendUvarint(dst, uint64(m.SmallestSeq))
		dst = binary.AppendUvarint(dst, uint64(m.LargestSeq))
		dst = binary.AppendUvarint(dst, m.Entries)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.BloomBitsPerKey))
		if m.GlobalSeq != 0 {
			dst = binary.AppendUvarint(dst, uint64(m.GlobalSeq))
		}
	}
	return dst
}

func appendKey(dst []byte, k base.InternalKey) []byte {
	dst = binary.AppendUvarint(dst, uint64(k.EncodedLen()))
	return k.AppendEncoded(dst)
}

// decode replaces e with the edit encoded in data. The edit does not alias
// data. Errors wrap base.ErrCorruption; e is left empty on error.
func (e *VersionEdit) decode(data []byte) error {
	*e = VersionEdit{}
	d := decoder{buf: append([]byte(nil), data...)}
	var seen [tagIngested + 1]bool
	for len(d.buf) > 0 {
		at := d.off
		tag := d.uvarint("tag")
		if d.err != nil {
			break
		}
		if tag >= uint64(len(seen)) || tag == 0 {
			d.fail(at, "unknown tag %d", tag)
			break
		}
		if (tag <= tagLastSeq || tag == tagPageSize) && seen[tag] {
			d.fail(at, "tag %d repeated", tag)
			break
		}
		seen[tag] = true
		switch tag {
		case tagLogNum:
			e.LogNum = base.FileNum(d.uvarint("log number"))
		case tagNextFileNum:
			e.NextFileNum = base.FileNum(d.uvarint("next file number"))
		case tagLastSeq:
			e.LastSeq = base.SeqNum(d.uvarint("last sequence number"))
		case tagPageSize:
			e.PageSize = d.uvarint("page size")
		case tagDeletedFile:
			var df DeletedFile
			df.Level = d.level()
			df.FileNum = base.FileNum(d.uvarint("deleted file number"))
			e.DeletedFiles = append(e.DeletedFiles, df)
		case tagNewFile, tagIngested:
			var nf NewFile
			m := &nf.Meta
			nf.Level = d.level()
			m.FileNum = base.FileNum(d.uvarint("file number"))
			m.Size = d.uvarint("file size")
			m.Run = d.uvarint("run")
			m.Smallest = d.key("smallest key")
			m.Largest = d.key("largest key")
			m.SmallestSeq = base.SeqNum(d.uvarint("smallest seqnum"))
			m.LargestSeq = base.SeqNum(d.uvarint("largest seqnum"))
			m.Entries = d.uvarint("entries")
			m.BloomBitsPerKey = d.float("bloom bits per key")
			if tag == tagIngested {
				if m.GlobalSeq = base.SeqNum(d.uvarint("global seqnum")); d.err == nil && m.GlobalSeq == 0 {
					d.fail(at, "ingested file %d with global seqnum 0", m.FileNum)
				}
			}
			e.NewFiles = append(e.NewFiles, nf)
		}
		if d.err != nil {
			break
		}
	}
	if d.err != nil {
		*e = VersionEdit{}
		return d.err
	}
	return nil
}

// decoder reads fields from buf, recording the first error.
type decoder struct {
	buf []byte
	off int // offset of buf[0] in the edit, for errors
	err error
}

func (d *decoder) fail(at int, format string, args ...any) {
	if d.err == nil {
		d.err = base.Corruptf(editLabel, fmt.Sprintf("byte %d", at), format, args...)
	}
}

func (d *decoder) advance(n int) {
	d.buf = d.buf[n:]
	d.off += n
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail(d.off, "bad or truncated %s", what)
		return 0
	}
	d.advance(n)
	return v
}

func (d *decoder) level() int {
	at := d.off
	v := d.uvarint("level")
	if d.err == nil && v >= maxLevels {
		d.fail(at, "level %d outside [0, %d)", v, maxLevels)
		return 0
	}
	return int(v)
}

func (d *decoder) key(what string) base.InternalKey {
	at := d.off
	n := d.uvarint(what + " length")
	if d.err != nil {
		return base.InternalKey{}
	}
	if n < base.TrailerLen || n > maxKeyLen || n > uint64(len(d.buf)) {
		d.fail(at, "%s length %d invalid (%d bytes left)", what, n, len(d.buf))
		return base.InternalKey{}
	}
	k, _ := base.DecodeInternalKey(d.buf[:n:n])
	d.advance(int(n))
	return k
}

func (d *decoder) float(what string) float64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 8 {
		d.fail(d.off, "truncated %s", what)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		d.fail(d.off, "%s is %v", what, f)
		return 0
	}
	d.advance(8)
	return f
}
