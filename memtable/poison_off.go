//go:build !invariants

package memtable

// poisonReleased is false outside -tags invariants builds: released chunks
// are reused (see poison_on.go).
const poisonReleased = false
