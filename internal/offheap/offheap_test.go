package offheap

import (
	"runtime"
	"testing"
	"unsafe"
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

// TestHugeAligned: an allocation of a huge page or more starts at a huge
// page boundary, so that the kernel can back it with huge pages.
func TestHugeAligned(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no off-heap memory here")
	}
	for _, n := range []int{2 << 20, 3<<20 + 4096, 8 << 20} {
		b, err := Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		if a := uintptr(unsafe.Pointer(unsafe.SliceData(b))) % (2 << 20); a != 0 {
			t.Fatalf("Alloc(%d) starts %d bytes past a huge page boundary", n, a)
		}
		if len(b) != n || cap(b) != n {
			t.Fatalf("Alloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		b[0], b[n-1] = 1, 1
		if err := Free(b); err != nil {
			t.Fatal(err)
		}
	}
}
