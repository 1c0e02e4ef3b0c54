package base

// InternalIterator walks internal keys in CompareInternal order. Memtables,
// SSTs and the merging iterator implement it.
//
// Positioning methods return whether the iterator is now at an entry (the same
// as Valid). Key and Value are valid only until the next positioning call or
// Close; callers that keep them must copy. Errors (I/O, corruption) make the
// iterator invalid and are reported by Error.
type InternalIterator interface {
	// First moves to the first entry.
	First() bool
	// Last moves to the last entry.
	Last() bool
	// SeekGE moves to the first entry whose user key is >= key.
	SeekGE(key []byte) bool
	// SeekLT moves to the last entry whose user key is < key.
	SeekLT(key []byte) bool
	// Next moves to the next entry.
	Next() bool
	// Prev moves to the previous entry.
	Prev() bool
	// Valid reports whether the iterator is at an entry.
	Valid() bool
	// Key returns the current entry's key.
	Key() InternalKey
	// Value returns the current entry's value.
	Value() []byte
	// Error returns the first error the iterator met, if any.
	Error() error
	// Close releases the iterator's resources and returns Error().
	Close() error
}

// StoredValuer is implemented by iterators that can hand out the current
// value as their file stores it, compressed, so a merge can copy it without
// decoding it (see sst.Iter.StoredValue). ok is false when the value is not
// available that way; the caller then uses Value.
type StoredValuer interface {
	StoredValue() (block []byte, ok bool)
}
