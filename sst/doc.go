// Package sst writes and reads one immutable sorted string table: the file a
// memtable flush or a compaction produces. A file is a sequence of fixed-size
// pages; point entries live in leaf pages indexed by a B+Tree stored in the
// same file, and a Bloom filter over the user keys lets Get skip most files
// that do not hold a key.
//
// Package db is Strata's API; this package is part of its internal
// machinery, exported for db, the strata tool's "sst dump" (Open,
// Reader.Layout, Reader.NewScanIter) and the experiments module.
//
// # File layout
//
// All integers are little-endian. The page size P is a power of two between
// 1024 and 65536 (default 4096); the file is exactly totalPages*P bytes.
//
//	page 0                metadata page (type 6), written last
//	pages 1 .. L+O        leaf pages (type 1) in key order, with the O value
//	                      pages (type 7) of the value stream between them,
//	                      each written when full (versions 1 to 3: the O
//	                      overflow pages (type 3) of a leaf's large values
//	                      just before it)
//	next R pages          range-deletion leaf pages (type 5)
//	next N pages          B+Tree node pages (type 2), level by level from the
//	                      bottom; the last one is the root
//	next D pages          value directory pages (type 8, version 4)
//	next B pages          Bloom filter pages (type 4)
//
// # Page header (every page)
//
//	offset size field
//	0      1    page type: 1 leaf, 2 node, 3 overflow, 4 bloom, 5 range-del
//	            leaf, 6 metadata, 7 value, 8 value directory
//	1      1    flags, on leaf pages (type 1) only: 0x01 the value field
//	            carries two flags (version 2 and on), 0x02 compact keys
//	            (version 3 and on), 0x04 value-stream references (version
//	            4); 0 on every other page
//	2      2    uint16 count: entries (leaf, node, range-del pages), payload
//	            bytes (overflow, bloom, value, value directory pages), body
//	            bytes (metadata page)
//	4      4    uint32 CRC32C (Castagnoli) of page[0:4], then page[8:P],
//	            then the page number as 4 little-endian bytes
//
// Mixing the page number into the checksum makes a page written or read at
// the wrong offset fail its check. Unused bytes are zero.
//
// # Leaf pages (types 1 and 5) and node pages (type 2)
//
//	+--------+----------------------+--------+-----------+-----------------------+
//	| header | slot[0] .. slot[n-1] | prefix | free, 0s  | entry[n-1] .. entry[0]|
//	+--------+----------------------+--------+-----------+-----------------------+
//	  8 bytes  n uint16 offsets of    compact  entries are packed from the end
//	           the entries, in key    leaves   of the page backwards; slot i
//	           order                  only     points at the i-th smallest entry
//
//	prefix (compact leaves, flag 0x02): uint16 length p | p bytes, the user-key
//	  prefix every entry of the page shares (the longest one, so a page of one
//	  entry has its whole key there)
//	compact leaf entry (version 3):
//	  uvarint suffixLen | suffix | uvarint trailer | uvarint valueField | tail
//	  suffix  = the user key past the page's prefix
//	  trailer = seqnum<<8 | kind
//	legacy leaf entry (versions 1 and 2, and every range-del page):
//	  uvarint keyLen | uvarint valueField | key | tail
//	  key     = encoded internal key: user key, then uint64 seqnum<<8|kind
//	valueField = valueLen<<2 | compressed<<1 | overflow   (flag 0x01 set)
//	             valueLen<<1 | overflow                   (no flags)
//	tail = the stored value (overflow = 0); with overflow = 1 on a page
//	       flagged 0x04, the uvarint offset of the stored value in the
//	       value stream, and otherwise (versions 1 to 3) the uint32 first
//	       overflow page, the stored value then filling ceil(valueLen/(P-8))
//	       consecutive overflow pages, P-8 payload bytes each but the last.
//	       valueLen is the stored length. When compressed = 1 the stored
//	       bytes are one Snappy block (the block format of
//	       github.com/golang/snappy, whose header gives the decoded length);
//	       the value is its decoding.
//	node entry: uvarint keyLen | key | uint32 child page
//	  key  = the encoded first internal key of the child (its separator)
//
// Entries in a page are strictly increasing in base.CompareInternal order;
// on a compact page the suffixes and trailers alone order them, and a
// search holds the target against the prefix once. A value is stored
// inline when the entry plus its slot, counted with its whole user key,
// takes at most P/16 bytes (or its value has at most 8), and otherwise
// joins the value stream; a leaf always holds at least 4 entries. (Versions
// 1 to 3 kept entries up to (P-10)/4 bytes inline and wrote larger values
// to overflow pages just before the leaf that references them.) Writers compress a
// value only when that saves an eighth of it (see Compression); the rules
// above count stored bytes. Range-deletion pages hold entries whose key is
// (start, seqnum, KindRangeDelete) and whose inline value is the exclusive
// end user key; they carry no flags, so their entries are legacy ones with
// value field valueLen<<1 (never overflowed or compressed). To find the
// leaf for a target key, a node picks its last child whose separator is <=
// the target (child 0 if none).
//
// # Overflow, Bloom, value and value directory pages (types 3, 4, 7, 8)
//
// After the header, count payload bytes. Bloom pages hold the encoding of
// package bloom's Builder.Finish over the distinct user keys of the point
// entries, split over pages exactly like an overflow value.
//
// The value stream (version 4) is the stored values that are not inline,
// back to back in the order their entries were added. Value page i holds
// stream bytes [i*(P-8), (i+1)*(P-8)): every value page is full but the
// last. The writer emits a value page as soon as it fills, so the value
// pages of one value need not be consecutive: the directory pages list the
// page number of every value page in stream order, as uint32s (count =
// 4 × the pages listed), and the stored value at stream offset o with
// length n is read from the value pages o/(P-8) on, starting o%(P-8) bytes
// past the first one's header.
//
// # Metadata page (type 6, page 0)
//
//	offset size field
//	8      8    magic "STRATSST"
//	16     4    format version: 4 (1 to 3 are read too; see Versions)
//	20     4    page size P
//	24     4    leaf page count L
//	28     4    overflow page count O
//	32     4    node page count N
//	36     4    root page (a leaf when height is 0; 0 when L is 0)
//	40     4    tree height: node levels above the leaves
//	44     4    first range-del page (always 1+L+O)
//	48     4    range-del page count R
//	52     4    first Bloom page (always 1+L+O+R+N+D)
//	56     4    Bloom page count B
//	60     4    Bloom encoding length in bytes
//	64     8    point entry count
//	72     8    range deletion count
//	80     8    smallest seqnum (over points and range deletions)
//	88     8    largest seqnum
//	96     8    Bloom bits per key, float64 bits (0 without a filter)
//	104    4    total page count, 1+L+O+R+N+D+B
//	108    8    value stream length in bytes (version 4 only)
//	116    4    value directory page count D (version 4 only)
//	108    2+k  smallest point key: uint16 length k, encoded internal key
//	            (at offset 120 in version 4)
//	...    2+k  largest point key, the same way (both lengths 0 without
//	            point entries)
//
// The header's count is the body length, offset 8 to the end of the
// largest key: 100 + (2+k) + (2+k') for keys of k and k' bytes (112 + ...
// in version 4). In version 4, O counts the value pages and is
// ceil(stream length / (P-8)); D is ceil(4*O / (P-8)).
//
// # Worked example
//
// A leaf of a 1024-byte-page file holding the single entry "a"#5,SET = "xy"
// (too short to compress):
//
//	offset 0:    01 07 01 00 cc cc cc cc   type 1, flags 0x07, count 1, CRC32C
//	offset 8:    fa 03                     slot 0 = 0x3fa = 1018
//	offset 10:   01 00 61                  prefix: length 1, "a"
//	offset 13:   00 ... 00                 free space
//	offset 1018: 00                        suffixLen 0 (the prefix is the key)
//	             81 0a                     trailer 5<<8|1 = 0x501 as a uvarint
//	             08                        valueLen 2 <<2 | 0 | 0 (inline)
//	             78 79                     "xy"
//
// A file holding only "b"#6,SET = 100 random bytes (over P/16 = 64, and
// Snappy would not save an eighth) keeps the value in the value stream.
// Its leaf, page 1, ends with the entry
//
//	00 81 0c 91 03 00                       suffix "", trailer 0x601, value
//	                                        field 100<<2 | overflow = 0x191,
//	                                        stream offset 0
//
// page 2 is the value page, written at Finish: header 07 00 64 00 ... (type
// 7, count 100), the 100 bytes after it; and the directory page, the last
// one without a filter, lists page 2: 08 00 04 00 ... 02 00 00 00.
//
// With Snappy, the 40-byte value "abcdefgh" repeated five times is stored
// in 13 bytes: value field 0x36 (13<<2 | compressed), then the block
// 28 1c 61 62 63 64 65 66 67 68 7e 08 00 (decoded length 40, an 8-byte
// literal "abcdefgh", a copy of 32 bytes from offset 8).
//
// # Versions
//
// Version 1 files have no page flags and no compression; version 2 added
// the value field's compressed flag (leaf flag 0x01); version 3 added
// compact keys (leaf flag 0x02): a prefix stored once per leaf, suffixes,
// and uvarint trailers; version 4 added the value stream (leaf flag 0x04,
// value and value directory pages, two metadata fields) in place of
// overflow pages. A reader accepts all four: the flags byte of each leaf
// page says how to read its entries, and the metadata version says which
// flags a page may carry.
//
// # Constants that must never change
//
// The magic, the page type numbers, the header layout, the checksum (CRC32C
// over page[0:4], page[8:P], page number), the entry encodings of each
// version, the metadata offsets and the kinds in package base. A layout
// change needs a new format version, and readers must keep reading every
// earlier one.
package sst
