package main

import "fmt"

// engine is what the workloads need from a store. Every method is what the
// store's own documentation offers for the job; none is tuned.
type engine interface {
	// put writes one key, synced only if the engine was opened with
	// engineOptions.syncWrites; key and value may be reused after it
	// returns.
	put(key, value []byte) error
	// get reports whether key is present and checks the value's length.
	get(key []byte) (bool, error)
	// seekNext opens an iterator, seeks to the first key >= key, makes up to
	// next further steps, reads every key and value it lands on and returns
	// how many entries and bytes it read.
	seekNext(key []byte, next int) (entries int, bytes int64, err error)
	// scan reads every entry in key order.
	scan() (entries int, bytes int64, err error)
	close() error
	// describe names the settings that differ from the engine's defaults
	// and the defaults a reader may want to know (compression).
	describe() string
}

// engineOptions are the settings matched across engines.
type engineOptions struct {
	cacheBytes int64
	memBytes   int64
	// bloomBits is the Bloom filter budget per key.
	bloomBits int
	// valueSize is the length get checks every value against.
	valueSize int
	// syncWrites makes every put return only once it is durable, in the
	// engine's own synced-write mode.
	syncWrites bool
	// strataWriteBehind: see config.strataWriteBehind.
	strataWriteBehind bool
}

func knownEngine(name string) bool {
	for _, e := range allEngines {
		if e == name {
			return true
		}
	}
	return false
}

func openEngine(name, dir string, o engineOptions) (engine, error) {
	switch name {
	case "strata":
		return openStrata(dir, o)
	case "pebble":
		return openPebble(dir, o)
	case "goleveldb":
		return openGoleveldb(dir, o)
	case "badger":
		return openBadger(dir, o)
	}
	return nil, fmt.Errorf("unknown engine %q", name)
}

// checkValue rejects a value of the wrong length: every read phase checks
// that it got what the fills wrote.
func checkValue(engine string, key, v []byte, want int) error {
	if len(v) != want {
		return fmt.Errorf("%s: key %s: value of %d bytes, want %d", engine, key, len(v), want)
	}
	return nil
}
