package main

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms: HdrHistogram with 3 significant digits, so every
// percentile is within 0.1% of the exact one, over 1 ns to
// maxLatency, in about 200 KiB per histogram whatever the operation count.
// An exact sort of every latency would need 8 bytes per operation, which
// would show in the worker's peak RSS at 10M keys.
const maxLatency = 100 * time.Second

// latencies records the durations of single operations.
type latencies struct {
	h *hdrhistogram.Histogram
	// base is the fixed start that start and since measure from.
	base time.Time
}

func newLatencies() *latencies {
	return &latencies{h: hdrhistogram.New(1, int64(maxLatency), 3), base: time.Now()}
}

// start marks the beginning of an operation, for since or stop. It reads
// the monotonic clock alone (time.Since of a fixed start), where time.Now
// reads the wall clock too: timing an operation costs two clock reads,
// about 70 ns on the 2-core VM (95 with time.Now), which every engine's
// throughput pays alike.
func (l *latencies) start() time.Duration { return time.Since(l.base) }

// since is the time from the mark t.
func (l *latencies) since(t time.Duration) time.Duration { return time.Since(l.base) - t }

// stop records the operation that began at mark t.
func (l *latencies) stop(t time.Duration) { l.record(l.since(t)) }

// record adds one operation's duration; longer than maxLatency counts as
// maxLatency.
func (l *latencies) record(d time.Duration) {
	l.h.RecordValue(int64(min(max(d, 1), maxLatency)))
}

// merge adds o's operations to l.
func (l *latencies) merge(o *latencies) { l.h.Merge(o.h) }

// latencySummary is what the JSON line keeps of a histogram, in
// microseconds.
type latencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

func (l *latencies) summary() *latencySummary {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return &latencySummary{
		Count: l.h.TotalCount(),
		P50:   us(l.h.ValueAtQuantile(50)),
		P99:   us(l.h.ValueAtQuantile(99)),
		P999:  us(l.h.ValueAtQuantile(99.9)),
		Max:   us(l.h.Max()),
	}
}
