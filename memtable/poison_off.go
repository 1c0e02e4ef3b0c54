//go:build !invariants

package memtable

// poisonReleased is true in builds with -tags invariants: released chunks
// are filled with garbage instead of being reused, so that a reader that
// still held memtable memory after its release sees it.
const poisonReleased = false
