package offheap

import (
	"runtime"
	"testing"
)

func TestAllocFree(t *testing.T) {
	b, err := Alloc(1 << 20)
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("Alloc succeeded where it is not supported")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1<<20 || cap(b) != 1<<20 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("byte %d = %d, want zero", i, b[i])
		}
	}
	b[0], b[len(b)-1] = 1, 2
	if err := Free(b[:0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Alloc(0); err == nil {
		t.Fatal("Alloc(0) succeeded")
	}
}
