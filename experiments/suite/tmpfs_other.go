//go:build !linux

package main

// onTmpfs reports whether dir lives on a tmpfs; outside Linux it assumes
// the temp dir is on disk.
func onTmpfs(dir string) bool { return false }
