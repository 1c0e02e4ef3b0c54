package vfs

import (
	"errors"
	"testing"
	"unsafe"
)

func TestAlignedBuffer(t *testing.T) {
	for _, align := range []int{1, 8, 512, 4096, 65536} {
		for _, size := range []int{0, 1, 100, 4096, 3 * 4096, 70000} {
			b := AlignedBuffer(size, align)
			if len(b) != size || cap(b) != size {
				t.Fatalf("AlignedBuffer(%d, %d): len %d cap %d", size, align, len(b), cap(b))
			}
			if addr := uintptr(unsafe.Pointer(unsafe.SliceData(b))); size > 0 && addr%uintptr(align) != 0 {
				t.Fatalf("AlignedBuffer(%d, %d) at %#x", size, align, addr)
			}
			for i, c := range b {
				if c != 0 {
					t.Fatalf("AlignedBuffer(%d, %d)[%d] = %d", size, align, i, c)
				}
			}
		}
	}
	for _, align := range []int{0, -4096, 3, 4095} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AlignedBuffer(1, %d) did not panic", align)
				}
			}()
			AlignedBuffer(1, align)
		}()
	}
}

func TestIsAligned(t *testing.T) {
	const A = DirectIOAlignment
	b := AlignedBuffer(4*A, A)
	for _, c := range []struct {
		name string
		buf  []byte
		off  int64
		want bool
	}{
		{"aligned", b[:A], 0, true},
		{"aligned run", b, 3 * A, true},
		{"offset", b[:A], 512, false},
		{"length", b[:A-1], 0, false},
		{"address", b[512 : 512+A], 0, false},
		{"empty", b[:0], A, true},
		{"empty at odd offset", b[:0], 1, false},
	} {
		if got := IsAligned(c.buf, c.off, A); got != c.want {
			t.Errorf("%s: IsAligned = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestOpenDirectFallback checks that filesystems without direct I/O say so
// with ErrDirectIOUnsupported, so callers know to fall back to Open.
func TestOpenDirectFallback(t *testing.T) {
	mem := NewMem()
	f, err := mem.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for name, fsys := range map[string]FS{
		"MemFS":   mem,
		"FaultFS": NewFaultFS(mem, InjectorFunc(func(Op, string) error { return nil })),
	} {
		if _, ok := fsys.(DirectOpener); ok {
			t.Errorf("%s implements DirectOpener", name)
		}
		if _, err := OpenDirect(fsys, "f"); !errors.Is(err, ErrDirectIOUnsupported) {
			t.Errorf("%s: OpenDirect = %v, want ErrDirectIOUnsupported", name, err)
		}
	}
	if _, ok := Default().(DirectOpener); !ok {
		t.Error("Default() does not implement DirectOpener")
	}
}
