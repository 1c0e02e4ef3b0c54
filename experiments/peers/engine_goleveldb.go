package main

import (
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// goleveldbEngine: BlockCacheCapacity, WriteBuffer and
// filter.NewBloomFilter(10); writes with nil WriteOptions (no sync, the
// default), or opt.WriteOptions{Sync: true} in the fillsync phases.
type goleveldbEngine struct {
	d         *leveldb.DB
	wo        *opt.WriteOptions
	valueSize int
}

func openGoleveldb(dir string, o engineOptions) (engine, error) {
	d, err := leveldb.OpenFile(dir, &opt.Options{
		BlockCacheCapacity: int(o.cacheBytes),
		WriteBuffer:        int(o.memBytes),
		Filter:             filter.NewBloomFilter(o.bloomBits),
	})
	if err != nil {
		return nil, err
	}
	e := &goleveldbEngine{d: d, valueSize: o.valueSize}
	if o.syncWrites {
		e.wo = &opt.WriteOptions{Sync: true}
	}
	return e, nil
}

func (e *goleveldbEngine) put(k, v []byte) error { return e.d.Put(k, v, e.wo) }

func (e *goleveldbEngine) get(k []byte) (bool, error) {
	v, err := e.d.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, checkValue("goleveldb", k, v, e.valueSize)
}

func (e *goleveldbEngine) seekNext(k []byte, next int) (int, int64, error) {
	it := e.d.NewIterator(nil, nil)
	n, b := 0, int64(0)
	for ok := it.Seek(k); ok && n <= next; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	it.Release()
	return n, b, it.Error()
}

func (e *goleveldbEngine) scan() (int, int64, error) {
	it := e.d.NewIterator(nil, nil)
	n, b := 0, int64(0)
	for ok := it.First(); ok; ok = it.Next() {
		n++
		b += int64(len(it.Key()) + len(it.Value()))
	}
	it.Release()
	return n, b, it.Error()
}

func (e *goleveldbEngine) close() error { return e.d.Close() }

func (e *goleveldbEngine) describe() string {
	var o opt.Options
	return fmt.Sprintf("goleveldb: default compression %v, block size %d, L0 compaction trigger %d",
		o.GetCompression(), o.GetBlockSize(), o.GetCompactionL0Trigger())
}
