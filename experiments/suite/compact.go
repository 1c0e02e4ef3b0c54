package main

import (
	"time"

	"github.com/seed-d6fe07da/strata/db"
)

// compactAll flushes the memtable and merges the whole database into its
// last level, so that a measurement that follows runs on a fixed tree with
// no background merge: for experiments about readers, not about the shape
// of the tree.
func compactAll(e *env, d *db.DB) error {
	start := time.Now()
	if err := d.Compact(nil, nil); err != nil {
		return err
	}
	e.settle(d)
	m := d.Metrics()
	e.progress("compacted to %s in %.1fs", levelsString(m), time.Since(start).Seconds())
	return nil
}
