//go:build !race

package db

// raceEnabled: the race detector is off.
const raceEnabled = false
