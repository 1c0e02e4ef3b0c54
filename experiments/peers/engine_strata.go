package main

import (
	"errors"
	"sync"

	"github.com/seed-d6fe07da/strata/db"
)

// strataEngine: Options.MemtableSize, CacheSize, BloomBitsPerKey and
// SyncWrites (false but in the fillsync phases); everything else (page
// size, merge policy, Monkey filter allocation) is the default. Gets use
// DB.GetAppend into a pooled buffer, as Pebble's and Badger's gets read
// the value in place: no engine allocates a value per get but goleveldb,
// whose API has no other way.
type strataEngine struct {
	d           *db.DB
	valueSize   int
	writeBehind bool
	bufs        sync.Pool // of *[]byte, a value buffer per concurrent get
}

func openStrata(dir string, o engineOptions) (engine, error) {
	d, err := db.Open(dir, &db.Options{
		MemtableSize:    o.memBytes,
		CacheSize:       o.cacheBytes,
		BloomBitsPerKey: float64(o.bloomBits),
		SyncWrites:      o.syncWrites,
		WALWriteBehind:  o.strataWriteBehind,
	})
	if err != nil {
		return nil, err
	}
	return &strataEngine{d: d, valueSize: o.valueSize, writeBehind: o.strataWriteBehind}, nil
}

func (e *strataEngine) put(k, v []byte) error { return e.d.Put(k, v) }

func (e *strataEngine) get(k []byte) (bool, error) {
	buf, _ := e.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer e.bufs.Put(buf)
	v, err := e.d.GetAppend((*buf)[:0], k)
	*buf = v
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, checkValue("strata", k, v, e.valueSize)
}

func (e *strataEngine) seekNext(k []byte, next int) (int, int64, error) {
	it := e.d.NewIter(nil)
	n, b := 0, int64(0)
	for ok := it.SeekGE(k); ok && n <= next; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	return n, b, it.Close()
}

func (e *strataEngine) scan() (int, int64, error) {
	it := e.d.NewIter(nil)
	n, b := 0, int64(0)
	for ok := it.First(); ok; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	return n, b, it.Close()
}

func (e *strataEngine) close() error { return e.d.Close() }

// stats is the database's own account of its levels and I/O, printed by the
// worker before the main database closes.
func (e *strataEngine) stats() string { return e.d.Metrics().String() }

func (e *strataEngine) describe() string {
	s := "strata: Snappy per value (the default), 4 KiB pages, T=4 lazy leveling, Monkey Bloom allocation averaging 10 bits/key"
	if e.writeBehind {
		s += "; WALWriteBehind (unsynced writes are written by a goroutine, as Pebble's)"
	}
	return s
}
