// Package wal frames records for Strata's write-ahead log and manifest: a
// Writer appends checksummed records to a file, and a Reader replays them,
// stopping cleanly at a torn tail left by a crash in the middle of an
// append. The package knows nothing about what the payloads mean.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for db (the write-ahead log) and package manifest.
//
// A Writer hands records to the file with write(2), or, made by
// NewMappedWriter, stores them into a shared memory mapping of the file,
// saving a system call per record. A store that fails kills the process
// with SIGBUS where a failed write returns an error, so the mapping is used
// only where reserving the file's blocks with fallocate keeps every store
// from failing: ext4, tmpfs and XFS without reflink, not copy-on-write,
// network or unknown filesystems. A Writer made by NewWriteBehindWriter
// queues records in memory for a goroutine that writes them, many per
// call, so that a crash of the process may lose the latest of them. All
// write the format below.
//
// # Record format
//
// A file is a sequence of records with no padding and no file header:
//
//	+---------------------+----------------------+---------------------+
//	| length: uint32 LE   | crc: uint32 LE       | payload             |
//	| 4 bytes             | 4 bytes              | length bytes        |
//	+---------------------+----------------------+---------------------+
//
//	crc = CRC-32C (Castagnoli) over the 4 length bytes followed by the payload
//
// Payloads are 1 byte to 1 GiB (maxPayload); a length of 0 never appears in
// a good record. Because the checksum covers the length, a flipped length
// bit is caught like any other.
//
// Worked example: the one-byte payload "a" is written as 9 bytes,
//
//	01 00 00 00 | c c c c | 61
//
// where cccc is CRC-32C of the bytes 01 00 00 00 61 stored little-endian. The
// next record starts at offset 9.
//
// # Sync markers
//
// A Writer made with MarkSyncs (the database's WAL) also records how far
// the file was durable: after each Sync that succeeded, the next record it
// writes is preceded by a 24-byte sync marker,
//
//	+-----------------------+----------------+-------------------+-----------------+
//	| 0x80000010: uint32 LE | crc: uint32 LE | synced: uint64 LE | at: uint64 LE   |
//	+-----------------------+----------------+-------------------+-----------------+
//
// whose length field has bit 31 set (no payload length reaches it, as
// maxPayload is 2^30) and whose payload is the offset up to which the file
// was synced and the marker's own offset. A marker is written only after
// the fsync it reports returned, so finding one at or after a damaged
// record that claims more than the damaged record's offset proves that the
// damage is in bytes that were synced: corruption, not a crash. Damage that
// no later marker covers lies in the unsynced tail, which a crash may leave
// in any state (disks persist unsynced pages in any order, so a zeroed page
// can sit between good records). A marker counts only where it says it is:
// a record's payload that holds a copy of a marker (a value holding a
// Strata WAL, say) names another place. Readers skip markers; ScanTail
// finds them past damage. Worked example: at offset 20, a marker for
// offset 9 is
//
//	10 00 00 80 | c c c c | 09 00 00 00 00 00 00 00 | 14 00 00 00 00 00 00 00
//
// with cccc the CRC-32C of those 4 length bytes followed by the 16 payload
// bytes. Readers older than sync markers reject a file holding one.
//
// # Torn tails
//
// A crash during an append can leave any prefix of the appended bytes at
// the end of the file. The Reader treats as a torn tail, returning io.EOF
// with TornTail true:
//
//   - a header or payload that runs past the end of the file;
//   - a checksum mismatch on a record that ends exactly at the end of file,
//     or that only zeros follow (a mapped Writer's window, partly filled by
//     an append the crash interrupted);
//   - a length over maxPayload that would run past the end of file.
//
// Zeros from a record boundary to the end of the file are padding, the
// clean end of the log (io.EOF, TornTail false): a mapped Writer grows the
// file a zeroed window at a time and leaves the unused part there if the
// process dies before Close trims it, and some filesystems leave zeros
// after a crash.
//
// Any other bad record (a zero length followed by non-zero bytes, a checksum
// mismatch or oversize length with non-zero bytes after the record) is
// reported as corruption: an error wrapping base.ErrCorruption that names
// the file and offset. ValidLen reports where the good prefix ends, so a
// caller can truncate a damaged tail before appending again; whether that
// damage may be dropped is the caller's decision, made with ScanTail.
//
// The header layout, the checksum polynomial, the meaning of a zero
// length and the sync marker's length field must never change: logs
// already on disk depend on them.
package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// HeaderLen is the length of a record header: length then checksum.
const HeaderLen = 8

// maxPayload is the largest payload a record may carry: 1 GiB.
const maxPayload = 1 << 30

// Sync markers (see the package doc): the length field that marks one, and
// the marker's whole length.
const (
	markerLength = 1<<31 | 16
	markerLen    = HeaderLen + 16
	// oldMarkerLength marks the first form of sync marker, written by
	// main for a while before the marker gave its own offset: its payload
	// is the synced offset alone. Readers still honour it (it is not
	// written any more), without the check of where it is.
	oldMarkerLength = 1<<31 | 8
	oldMarkerLen    = HeaderLen + 8
)

// crcTable is the CRC-32C table; it is read-only after initialisation.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// recordCRC returns the checksum of a record: CRC-32C over the length bytes,
// then the payload.
func recordCRC(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, crcTable, lenBytes), crcTable, payload)
}

// putHeader writes the header of a record with the given length field and
// payload p into h, which has HeaderLen bytes.
func putHeader(h []byte, length uint32, p []byte) {
	binary.LittleEndian.PutUint32(h[0:4], length)
	binary.LittleEndian.PutUint32(h[4:8], recordCRC(h[0:4], p))
}
