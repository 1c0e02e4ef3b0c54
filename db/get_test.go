package db

import (
	"bytes"
	"errors"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestGetAppend checks that GetAppend appends the value Get returns to the
// caller's bytes, wherever the value lives (memtable, an SST, a value over
// several pages, merge operands), leaves them as they were for a missing
// or deleted key, and allocates nothing once the buffer is large enough.
func TestGetAppend(t *testing.T) {
	o := smallOpts(vfs.NewMem())
	o.Merge = counterMerge
	// No read-triggered folds: the gets pay for one, and a compaction
	// running beside testing.AllocsPerRun counts against GetAppend.
	o.Experimental.NoReadCompactions = true
	d := mustOpen(t, "/db", o)
	defer d.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 300) // spans several 1 KiB pages
	want := map[string][]byte{
		"empty": {},
		"small": []byte("v"),
		"big":   big,
	}
	put := func() {
		for k, v := range want {
			if err := d.Put([]byte(k), v); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Put([]byte("gone"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete([]byte("gone")); err != nil {
			t.Fatal(err)
		}
	}
	check := func(where string) {
		t.Helper()
		for k, v := range want {
			got, err := d.GetAppend([]byte("prefix:"), []byte(k))
			if err != nil || !bytes.Equal(got, append([]byte("prefix:"), v...)) {
				t.Fatalf("%s: GetAppend(%q) = %.40q, %v; want the prefix and %.40q", where, k, got, err, v)
			}
			plain, err := d.Get([]byte(k))
			if err != nil || !bytes.Equal(plain, v) || plain == nil {
				t.Fatalf("%s: Get(%q) = %.40q (nil %v), %v", where, k, plain, plain == nil, err)
			}
		}
		for _, k := range []string{"gone", "never"} {
			got, err := d.GetAppend([]byte("prefix:"), []byte(k))
			if !errors.Is(err, ErrNotFound) || string(got) != "prefix:" {
				t.Fatalf("%s: GetAppend(%q) = %q, %v; want the prefix alone and ErrNotFound", where, k, got, err)
			}
		}
	}
	put()
	if err := d.Merge([]byte("counter"), counterOperand(2)); err != nil {
		t.Fatal(err)
	}
	want["counter"] = counterOperand(2)
	check("memtable")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Merge([]byte("counter"), counterOperand(3)); err != nil {
		t.Fatal(err)
	}
	want["counter"] = counterOperand(5)
	check("memtable over SST")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	check("SSTs")

	buf := make([]byte, 0, 2*len(big))
	key := []byte("big")
	var err error
	get := func() { buf, err = d.GetAppend(buf[:0], key) }
	get()
	if n := testing.AllocsPerRun(200, get); n >= 1 || err != nil {
		t.Errorf("GetAppend of a %d-byte value from an SST allocates %.2f times per call (err %v), want 0", len(big), n, err)
	}
	if err := d.Put(key, big); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, get); n >= 1 || err != nil {
		t.Errorf("GetAppend from the memtable allocates %.2f times per call (err %v), want 0", n, err)
	}
}
