package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerBloomFP is the false-positive rate of a Bloom filter with 10 bits
// per key and the optimal 7 hash functions: 0.6185^10 ≈ 0.0082.
const badgerBloomFP = 0.0082

// badgerEngine: DefaultOptions with MemTableSize, BlockCacheSize (the
// documented cache for data blocks; IndexCacheSize stays 0, its default,
// which keeps every table's index and Bloom filter in memory),
// BloomFalsePositive 0.0082 and SyncWrites=false (the default; true in
// the fillsync phases). Logging is cut to warnings. The value log stays
// on: with the default ValueThreshold (1 MiB) every value below 1 MiB,
// the sweep's 64 KiB ones included, lives in the LSM tree. Writes are
// one read-write transaction per key (DB.Update), reads one read-only
// transaction per get (DB.View): Badger's API has no other single-key
// calls.
type badgerEngine struct {
	d         *badger.DB
	opts      badger.Options
	valueSize int
}

func openBadger(dir string, o engineOptions) (engine, error) {
	opts := badger.DefaultOptions(dir).
		WithMemTableSize(o.memBytes).
		WithBlockCacheSize(o.cacheBytes).
		WithBloomFalsePositive(badgerBloomFP).
		WithSyncWrites(o.syncWrites).
		WithLoggingLevel(badger.WARNING)
	if o.bloomBits != 10 {
		return nil, fmt.Errorf("badger: Bloom false-positive rate is only matched for 10 bits per key, not %d", o.bloomBits)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d, err := badger.Open(opts)
	if err != nil {
		return nil, err
	}
	return &badgerEngine{d: d, opts: opts, valueSize: o.valueSize}, nil
}

func (e *badgerEngine) put(k, v []byte) error {
	return e.d.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (e *badgerEngine) get(k []byte) (bool, error) {
	found := false
	err := e.d.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error { return checkValue("badger", k, v, e.valueSize) })
	})
	return found, err
}

func (e *badgerEngine) iterate(seek []byte, limit int) (int, int64, error) {
	txn := e.d.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	if seek != nil {
		it.Seek(seek)
	} else {
		it.Rewind()
	}
	n, b := 0, int64(0)
	for ; it.Valid() && (limit < 0 || n < limit); it.Next() {
		item := it.Item()
		err := item.Value(func(v []byte) error {
			b += int64(len(item.Key()) + len(v))
			return nil
		})
		if err != nil {
			return n, b, err
		}
		n++
	}
	return n, b, nil
}

func (e *badgerEngine) seekNext(k []byte, next int) (int, int64, error) {
	return e.iterate(k, next+1)
}

func (e *badgerEngine) scan() (int, int64, error) { return e.iterate(nil, -1) }

func (e *badgerEngine) close() error { return e.d.Close() }

func (e *badgerEngine) describe() string {
	enc := "off"
	if len(e.opts.EncryptionKey) > 0 {
		enc = "on"
	}
	return fmt.Sprintf("badger: default compression %s (ZSTD level %d if zstd), encryption %s (empty EncryptionKey), block size %d, ValueThreshold %d, NumCompactors %d, IndexCacheSize %d (0: indexes and Bloom filters all in memory)",
		compressionName(e.opts.Compression), e.opts.ZSTDCompressionLevel, enc, e.opts.BlockSize,
		e.opts.ValueThreshold, e.opts.NumCompactors, e.opts.IndexCacheSize)
}

func compressionName(c options.CompressionType) string {
	switch c {
	case options.None:
		return "none"
	case options.Snappy:
		return "snappy"
	case options.ZSTD:
		return "zstd"
	}
	return fmt.Sprintf("type %d", c)
}
