package cache

import (
	"fmt"
	"math"
	"runtime"
	"time"
)

// Policy names a replacement policy.
type Policy string

const (
	// Policy2Q is full 2Q (Johnson and Shasha, VLDB 1994): pages seen once
	// wait in a FIFO (A1in), the ids of pages pushed out of it are remembered
	// in a ghost list (A1out), and only a page referenced again while its id
	// is remembered enters the LRU list of hot pages (Am). A long scan
	// therefore passes through A1in without flushing Am. It is the default.
	Policy2Q Policy = "2q"
	// PolicyLRU keeps every page in one LRU list. It exists to compare
	// against 2Q in experiments; a scan larger than the pool flushes it.
	PolicyLRU Policy = "lru"
)

// String returns the policy's name: "lru", or "2q" for Policy2Q and the
// zero Policy, which means it.
func (p Policy) String() string {
	if p == "" {
		return string(Policy2Q)
	}
	return string(p)
}

const (
	defaultPageSize     = 4096
	minFrames           = 16   // a pool never has fewer frames
	minShardFrames      = 16   // default sharding keeps at least this many frames per shard
	defaultKinFraction  = 0.25 // of a shard's frames
	defaultKoutFraction = 0.5  // of a shard's frames, counted in ghost ids
	maxKoutFraction     = 16
	slabAlign           = 4096 // frames start on 4 KiB boundaries when PageSize is a multiple of it
)

// Options configures a Pool. The zero value of every field means its
// default.
type Options struct {
	// Capacity is the pool size in bytes; the pool holds Capacity/PageSize
	// frames (at least 16).
	Capacity int64
	// PageSize is the size of every frame. Default 4096.
	PageSize int
	// Policy is the replacement policy. Default Policy2Q.
	Policy Policy
	// KinFraction is the share of each shard's frames that pages seen once
	// (A1in) may hold before they are the first to be reclaimed; in (0, 1).
	// Only used by Policy2Q. Default 0.25.
	KinFraction float64
	// KoutFraction sizes the ghost list (A1out) of each shard, in page ids,
	// as a multiple of the shard's frames; in (0, 16]. Only used by
	// Policy2Q. Default 0.5.
	KoutFraction float64
	// Shards is the number of independently locked parts of the pool; pages
	// are spread over them by a hash of their PageID. Default: the power of
	// two at or above 4*GOMAXPROCS, halved until every shard holds at least
	// 16 frames. An explicit value is lowered for the same reason, so that
	// Shards: 1 always means one shard.
	Shards int
	// PinWait bounds how long Get waits for a frame to be released when
	// every frame of a shard is pinned, before it returns ErrAllPinned.
	// Default 1 second; negative means do not wait.
	PinWait time.Duration
}

// Validate reports the first field that holds a value New cannot use.
func (o Options) Validate() error {
	switch {
	case o.Capacity < 0:
		return fmt.Errorf("cache: Options.Capacity %d is negative", o.Capacity)
	case o.PageSize < 0:
		return fmt.Errorf("cache: Options.PageSize %d is negative", o.PageSize)
	case physicalMemory() > 0 && uint64(o.Capacity) > physicalMemory():
		return fmt.Errorf("cache: Options.Capacity %d bytes is more than this machine's %d bytes of memory",
			o.Capacity, physicalMemory())
	case o.Policy != "" && o.Policy != Policy2Q && o.Policy != PolicyLRU:
		return fmt.Errorf("cache: Options.Policy %q is not %q or %q", string(o.Policy), Policy2Q, PolicyLRU)
	case math.IsNaN(o.KinFraction) || o.KinFraction < 0 || o.KinFraction >= 1:
		return fmt.Errorf("cache: Options.KinFraction %v is outside (0, 1)", o.KinFraction)
	case math.IsNaN(o.KoutFraction) || o.KoutFraction < 0 || o.KoutFraction > maxKoutFraction:
		return fmt.Errorf("cache: Options.KoutFraction %v is outside (0, %d]", o.KoutFraction, maxKoutFraction)
	case o.Shards < 0:
		return fmt.Errorf("cache: Options.Shards %d is negative", o.Shards)
	}
	return nil
}

// ensureDefaults returns a copy of o with every zero field set to its
// default. It does not touch Shards, which depends on the frame count.
func (o Options) ensureDefaults() Options {
	if o.PageSize == 0 {
		o.PageSize = defaultPageSize
	}
	if o.Policy == "" {
		o.Policy = Policy2Q
	}
	if o.KinFraction == 0 {
		o.KinFraction = defaultKinFraction
	}
	if o.KoutFraction == 0 {
		o.KoutFraction = defaultKoutFraction
	}
	return o
}

// shardCount returns how many shards a pool of frames frames gets when
// Options.Shards is want (0 for the default).
func shardCount(want, frames int) int {
	n := want
	if n == 0 {
		n = 1
		for n < 4*runtime.GOMAXPROCS(0) {
			n <<= 1
		}
		for n > 1 && frames/n < minShardFrames {
			n >>= 1
		}
		return n
	}
	if most := max(1, frames/minShardFrames); n > most {
		n = most
	}
	return n
}

// fractionOf returns round(f*n), at least 1.
func fractionOf(f float64, n int) int {
	return max(1, int(math.Round(f*float64(n))))
}
