package db

import (
	"errors"
	"fmt"
	"testing"

	"github.com/seed-d6fe07da/strata/vfs"
)

// TestRangeFunc: Range and Iterator.All yield what a Scan does, a break
// releases the view, and a failed scan's error reaches the caller.
func TestRangeFunc(t *testing.T) {
	d := mustOpen(t, "/db", recoveryOptions(vfs.NewMem()))
	for i := range 100 {
		d.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprintf("v%d", i)))
	}
	var err error
	n := 0
	for k, v := range d.Range([]byte("k010"), []byte("k020"), &err) {
		if want := fmt.Sprintf("k%03d", 10+n); string(k) != want || string(v) != fmt.Sprintf("v%d", 10+n) {
			t.Fatalf("entry %d: %s=%s, want %s", n, k, v, want)
		}
		n++
	}
	if err != nil || n != 10 {
		t.Fatalf("Range: %d entries, %v", n, err)
	}
	n = 0
	for range d.Range(nil, nil, &err) {
		if n++; n == 3 {
			break
		}
	}
	if err != nil || n != 3 {
		t.Fatalf("Range with a break: %d entries, %v", n, err)
	}
	it := d.Scan(nil, nil)
	it.SeekGE([]byte("k095"))
	var keys []string
	for k := range it.All() {
		keys = append(keys, string(k))
	}
	if err := it.Close(); err != nil || len(keys) != 5 || keys[0] != "k095" {
		t.Fatalf("All after SeekGE: %v, %v", keys, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close after the loops: %v", err)
	}
	for range d.Range(nil, nil, &err) {
		t.Fatal("Range over a closed database yielded")
	}
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Range over a closed database: %v, want ErrClosed", err)
	}
}
