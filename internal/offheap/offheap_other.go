//go:build !linux

package offheap

func alloc(n int) ([]byte, error) { return nil, ErrUnsupported }

func free(b []byte) error { return ErrUnsupported }
