//go:build !linux

package vfs

import "fmt"

// OpenDirect is not supported outside Linux: it always fails with an error
// wrapping ErrDirectIOUnsupported, and callers fall back to Open.
func (osFS) OpenDirect(name string) (File, error) {
	return nil, fmt.Errorf("open %s: %w on this operating system", name, ErrDirectIOUnsupported)
}
