package main

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// pebbleEngine: Options.Cache (pebble.NewCache), MemTableSize and a
// bloom.FilterPolicy(10) on every level (the default has none); writes
// with pebble.NoSync, or pebble.Sync in the fillsync phases. Informational
// logging is dropped. Compression, block size, format version and
// compaction concurrency stay at their defaults.
type pebbleEngine struct {
	d         *pebble.DB
	wo        *pebble.WriteOptions
	valueSize int
}

func openPebble(dir string, o engineOptions) (engine, error) {
	c := pebble.NewCache(o.cacheBytes)
	defer c.Unref() // the DB holds its own reference
	opts := &pebble.Options{Cache: c, MemTableSize: uint64(o.memBytes), Logger: quietLogger{}}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(o.bloomBits)
	}
	d, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	e := &pebbleEngine{d: d, wo: pebble.NoSync, valueSize: o.valueSize}
	if o.syncWrites {
		e.wo = pebble.Sync
	}
	return e, nil
}

// quietLogger drops Pebble's informational lines (WAL recovery on open)
// so that stderr holds one line per phase; errors still print.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

func (e *pebbleEngine) put(k, v []byte) error { return e.d.Set(k, v, e.wo) }

func (e *pebbleEngine) get(k []byte) (bool, error) {
	v, closer, err := e.d.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = checkValue("pebble", k, v, e.valueSize)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	return true, err
}

func (e *pebbleEngine) seekNext(k []byte, next int) (int, int64, error) {
	it, err := e.d.NewIter(nil)
	if err != nil {
		return 0, 0, err
	}
	n, b := 0, int64(0)
	for ok := it.SeekGE(k); ok && n <= next; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	return n, b, it.Close()
}

func (e *pebbleEngine) scan() (int, int64, error) {
	it, err := e.d.NewIter(nil)
	if err != nil {
		return 0, 0, err
	}
	n, b := 0, int64(0)
	for ok := it.First(); ok; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	return n, b, it.Close()
}

func (e *pebbleEngine) close() error { return e.d.Close() }

func (e *pebbleEngine) describe() string {
	var o pebble.Options
	o.EnsureDefaults()
	return fmt.Sprintf("pebble: default compression %s on every level, block size %d, format major version %s (the default for a new store), L0 compaction threshold %d",
		o.Levels[0].Compression().Name, o.Levels[0].BlockSize, e.d.FormatMajorVersion(), o.L0CompactionThreshold)
}
