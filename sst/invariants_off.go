//go:build !invariants

package sst

// invariants is true in builds with -tags invariants, which verify every
// leaf page's whole structure when it is read (see checkLoadedLeaf).
const invariants = false
