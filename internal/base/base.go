// Package base holds the small types every layer of Strata shares: typed
// identifiers, internal keys and the error sentinels that callers test with
// errors.Is.
//
// Internal key encoding (used in SST leaf entries and node separators):
//
//	+-------------------+----------------------------------+
//	| user key (n bytes) | trailer: uint64 little-endian    |
//	+-------------------+----------------------------------+
//	trailer = seqnum<<8 | kind
//
// Internal keys order by user key ascending (bytes.Compare), then by trailer
// descending, so the newest version of a key comes first.
package base

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FileNum names a file in the database directory (SST, WAL or manifest).
type FileNum uint64

// PageNum is the index of a page inside an SST file.
type PageNum uint32

// SeqNum is the sequence number of a write. Newer writes carry larger numbers.
type SeqNum uint64

// Level is a level of the LSM tree; 0 is the level flushes write to.
type Level int

// MaxSeqNum is the largest sequence number a write may carry. The top 8 bits
// of the trailer are free so seqnum<<8 never overflows.
const MaxSeqNum SeqNum = 1<<56 - 1

// Kind says what an internal key records.
type Kind uint8

// The kinds of entry. Their values are part of the on-disk format and must
// never change.
const (
	KindDelete      Kind = 0
	KindSet         Kind = 1
	KindRangeDelete Kind = 2
	// KindMerge is a merge operand: a value that a merge operator folds
	// into the key's older value at read time and in merges of files.
	KindMerge Kind = 3
	// KindMax is the largest kind; a search key built with it sorts before
	// every real entry of the same user key and seqnum.
	KindMax Kind = 3
)

// String returns a short name for the kind.
func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case KindRangeDelete:
		return "RANGEDEL"
	case KindMerge:
		return "MERGE"
	}
	return fmt.Sprintf("KIND(%d)", uint8(k))
}

// TrailerLen is the length of the encoded trailer.
const TrailerLen = 8

// MakeTrailer packs a seqnum and kind.
func MakeTrailer(seq SeqNum, kind Kind) uint64 { return uint64(seq)<<8 | uint64(kind) }

// ExclusiveEndTrailer is the trailer of a file's largest key when that key
// is the exclusive end of a range deletion: it sorts before every real
// entry of its user key, so the file holds nothing of that user key.
const ExclusiveEndTrailer = uint64(MaxSeqNum)<<8 | uint64(KindRangeDelete)

// IsExclusiveEnd reports whether k, a file's largest key, is the exclusive
// end of a range deletion rather than a key the file holds.
func (k InternalKey) IsExclusiveEnd() bool { return k.Trailer == ExclusiveEndTrailer }

// InternalKey is a user key with its seqnum and kind.
type InternalKey struct {
	UserKey []byte
	Trailer uint64
}

// MakeInternalKey builds an internal key. It does not copy userKey.
func MakeInternalKey(userKey []byte, seq SeqNum, kind Kind) InternalKey {
	return InternalKey{UserKey: userKey, Trailer: MakeTrailer(seq, kind)}
}

// SeqNum returns the key's sequence number.
func (k InternalKey) SeqNum() SeqNum { return SeqNum(k.Trailer >> 8) }

// Kind returns the key's kind.
func (k InternalKey) Kind() Kind { return Kind(k.Trailer & 0xff) }

// EncodedLen is the length of the key's encoding.
func (k InternalKey) EncodedLen() int { return len(k.UserKey) + TrailerLen }

// Encode writes the key into buf, which must have room for EncodedLen bytes,
// and returns the number of bytes written.
func (k InternalKey) Encode(buf []byte) int {
	n := copy(buf, k.UserKey)
	binary.LittleEndian.PutUint64(buf[n:], k.Trailer)
	return n + TrailerLen
}

// AppendEncoded appends the key's encoding to dst.
func (k InternalKey) AppendEncoded(dst []byte) []byte {
	dst = append(dst, k.UserKey...)
	return binary.LittleEndian.AppendUint64(dst, k.Trailer)
}

// DecodeInternalKey splits an encoded internal key. The returned key aliases
// buf. ok is false when buf is shorter than a trailer.
func DecodeInternalKey(buf []byte) (key InternalKey, ok bool) {
	n := len(buf) - TrailerLen
	if n < 0 {
		return InternalKey{}, false
	}
	return InternalKey{UserKey: buf[:n:n], Trailer: binary.LittleEndian.Uint64(buf[n:])}, true
}

// Clone returns a copy of the key that owns its bytes.
func (k InternalKey) Clone() InternalKey {
	return InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
}

// String formats the key for debugging: "key#seq,KIND".
func (k InternalKey) String() string {
	return fmt.Sprintf("%q#%d,%s", k.UserKey, k.SeqNum(), k.Kind())
}

// CompareInternal orders internal keys: user key ascending, then trailer
// descending (newest first).
func CompareInternal(a, b InternalKey) int {
	if c := bytes.Compare(a.UserKey, b.UserKey); c != 0 {
		return c
	}
	switch {
	case a.Trailer > b.Trailer:
		return -1
	case a.Trailer < b.Trailer:
		return 1
	}
	return 0
}

// Error sentinels. The db package re-exports them so callers test with
// errors.Is(err, db.ErrCorruption) without importing internal packages.
var (
	// ErrCorruption marks bytes read from disk that fail validation.
	ErrCorruption = errors.New("strata: corruption")
	// ErrNotFound is returned by Get for a key with no live value.
	ErrNotFound = errors.New("strata: not found")
	// ErrClosed is returned by every call on a closed database or iterator.
	ErrClosed = errors.New("strata: closed")
)

// CorruptionError describes corrupt on-disk bytes: which file, where, what.
// It wraps ErrCorruption.
type CorruptionError struct {
	File   string // file name, e.g. "000012.sst"
	Where  string // e.g. "page 37" or "offset 4096"; may be empty
	Detail string // what failed, e.g. "checksum mismatch"
}

// Error formats the corruption as "strata: <file> <where>: <detail>".
func (e *CorruptionError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("strata: corruption: %s: %s", e.File, e.Detail)
	}
	return fmt.Sprintf("strata: corruption: %s %s: %s", e.File, e.Where, e.Detail)
}

// Unwrap makes errors.Is(err, ErrCorruption) true.
func (e *CorruptionError) Unwrap() error { return ErrCorruption }

// Corruptf builds a CorruptionError.
func Corruptf(file, where, format string, args ...any) error {
	return &CorruptionError{File: file, Where: where, Detail: fmt.Sprintf(format, args...)}
}

// MakeFilename returns the name of file num of the given type: "000012.sst",
// "000013.log", "MANIFEST-000014".
func MakeFilename(ft FileType, num FileNum) string {
	switch ft {
	case FileTypeTable:
		return fmt.Sprintf("%06d.sst", num)
	case FileTypeLog:
		return fmt.Sprintf("%06d.log", num)
	case FileTypeManifest:
		return fmt.Sprintf("MANIFEST-%06d", num)
	}
	panic("base: unknown file type")
}

// FileType is the kind of a file in the database directory.
type FileType int

// The kinds of file in a database directory.
const (
	FileTypeUnknown FileType = iota
	FileTypeTable
	FileTypeLog
	FileTypeManifest
	FileTypeCurrent
	FileTypeLock
	FileTypeTemp
)

// ParseFilename returns the type and number of a file name in the database
// directory; FileTypeUnknown for names Strata did not write. Only names of
// the exact shapes MakeFilename and the manifest's CURRENT.<num>.tmp produce
// count: Open removes obsolete files by these types, so a user's file that
// merely ends in ".tmp" or ".log" must never parse as one of Strata's.
func ParseFilename(name string) (FileType, FileNum) {
	switch {
	case name == "CURRENT":
		return FileTypeCurrent, 0
	case name == "LOCK":
		return FileTypeLock, 0
	case len(name) > len("CURRENT..tmp") && strings.HasPrefix(name, "CURRENT.") && strings.HasSuffix(name, ".tmp"):
		if num, ok := parseFileNum(name[len("CURRENT.") : len(name)-len(".tmp")]); ok {
			return FileTypeTemp, num
		}
	case strings.HasPrefix(name, "MANIFEST-"):
		if num, ok := parseFileNum(name[len("MANIFEST-"):]); ok {
			return FileTypeManifest, num
		}
	case strings.HasSuffix(name, ".sst"):
		if num, ok := parseFileNum(name[:len(name)-len(".sst")]); ok {
			return FileTypeTable, num
		}
	case strings.HasSuffix(name, ".log"):
		if num, ok := parseFileNum(name[:len(name)-len(".log")]); ok {
			return FileTypeLog, num
		}
	}
	return FileTypeUnknown, 0
}

// parseFileNum parses the number part of a file name as MakeFilename
// writes it: decimal digits, zero-padded to at least six, no other form.
func parseFileNum(s string) (FileNum, bool) {
	num, err := strconv.ParseUint(s, 10, 64)
	if err != nil || fmt.Sprintf("%06d", num) != s {
		return 0, false
	}
	return FileNum(num), true
}
