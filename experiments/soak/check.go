package main

import "github.com/seed-d6fe07da/strata/db"

// checkDB runs the database's own consistency check (DB.Check: every page
// of every SST read and verified, the runs, the manifest against the
// directory) on d after each reopen; a failure counts as an unexpected
// error.
func checkDB(d *db.DB) error {
	_, err := d.Check()
	return err
}
