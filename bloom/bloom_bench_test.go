package bloom

import (
	"fmt"
	"testing"
)

func BenchmarkMayContain(b *testing.B) {
	const n = 10000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%08d", i))
	}
	f := build(b, keys, 10)
	probe := []byte("absent-00000000")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		probe[len(probe)-1] = byte(i)
		f.MayContain(probe)
	}
}

func BenchmarkFinish(b *testing.B) {
	const n = 10000
	bld := NewBuilder()
	for i := range n {
		bld.Add([]byte(fmt.Sprintf("key-%08d", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		bld.Finish(10)
	}
}
