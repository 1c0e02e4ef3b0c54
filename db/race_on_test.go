//go:build race

package db

// raceEnabled: the race detector is on. Its sync.Pool drops a share of
// the items put back at random, so allocation counts mean nothing.
const raceEnabled = true
