package db

import (
	"bytes"
	"sort"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
	"github.com/seed-d6fe07da/strata/sst"
)

// runIter iterates over the files of one sorted run as one stream, opening
// each file's iterator only when the walk reaches it.
type runIter struct {
	tables *tableCache
	files  []*lsm.File
	idx    int       // index of the file iter belongs to
	iter   *sst.Iter // &own while a file is open, else nil
	own    sst.Iter  // reused from file to file, and from run to run
	err    error
}

// init makes it an unpositioned iterator over r, keeping the buffers of
// its file iterator. it must be new or closed.
func (it *runIter) init(tc *tableCache, r *lsm.Run) {
	own := it.own
	*it = runIter{tables: tc, files: r.Files, idx: -1, own: own}
}

// open makes files[i] the current file; false on error or out of range.
func (it *runIter) open(i int) bool {
	if it.iter != nil && it.idx == i {
		return true
	}
	if it.iter != nil {
		if err := it.iter.Close(); err != nil && it.err == nil {
			it.err = err
		}
		it.iter = nil
	}
	it.idx = i
	if i < 0 || i >= len(it.files) || it.err != nil {
		return false
	}
	e, err := it.tables.fileEntry(it.files[i])
	if err != nil {
		it.err = err
		return false
	}
	e.r.InitIter(&it.own)
	it.iter = &it.own
	return true
}

func (it *runIter) check(ok bool) bool {
	if !ok && it.iter != nil {
		if err := it.iter.Error(); err != nil && it.err == nil {
			it.err = err
		}
	}
	return ok && it.err == nil
}

// forward moves to the following files until one has an entry.
func (it *runIter) forward(ok bool) bool {
	for !ok && it.err == nil && it.iter != nil && it.iter.Error() == nil && it.idx+1 < len(it.files) {
		if !it.open(it.idx + 1) {
			return false
		}
		ok = it.iter.First()
	}
	return it.check(ok)
}

// backward moves to the preceding files until one has an entry.
func (it *runIter) backward(ok bool) bool {
	for !ok && it.err == nil && it.iter != nil && it.iter.Error() == nil && it.idx > 0 {
		if !it.open(it.idx - 1) {
			return false
		}
		ok = it.iter.Last()
	}
	return it.check(ok)
}

func (it *runIter) First() bool {
	if !it.open(0) {
		return false
	}
	return it.forward(it.iter.First())
}

func (it *runIter) Last() bool {
	if !it.open(len(it.files) - 1) {
		return false
	}
	return it.backward(it.iter.Last())
}

func (it *runIter) SeekGE(key []byte) bool {
	i := sort.Search(len(it.files), func(i int) bool {
		return bytes.Compare(it.files[i].Largest.UserKey, key) >= 0
	})
	if !it.open(i) {
		return false
	}
	return it.forward(it.iter.SeekGE(key))
}

// olderThan reports whether every entry of the run from its position up
// to end (forward) or down to start (reverse) has a seqnum below seq: the
// files of the run from the current one on that reach that far were all
// written below it.
func (it *runIter) olderThan(seq base.SeqNum, start, end []byte, reverse bool) bool {
	if it.iter == nil || it.idx < 0 {
		return false
	}
	if reverse {
		for i := it.idx; i >= 0 && bytes.Compare(it.files[i].Largest.UserKey, start) >= 0; i-- {
			if it.files[i].LargestSeq >= seq {
				return false
			}
		}
		return true
	}
	for i := it.idx; i < len(it.files) && bytes.Compare(it.files[i].Smallest.UserKey, end) < 0; i++ {
		if it.files[i].LargestSeq >= seq {
			return false
		}
	}
	return true
}

func (it *runIter) SeekLT(key []byte) bool {
	i := sort.Search(len(it.files), func(i int) bool {
		return bytes.Compare(it.files[i].Smallest.UserKey, key) >= 0
	}) - 1
	if !it.open(i) {
		return false
	}
	return it.backward(it.iter.SeekLT(key))
}

func (it *runIter) Next() bool {
	if it.iter == nil || it.err != nil {
		return false
	}
	return it.forward(it.iter.Next())
}

func (it *runIter) Prev() bool {
	if it.iter == nil || it.err != nil {
		return false
	}
	return it.backward(it.iter.Prev())
}

func (it *runIter) Valid() bool {
	return it.err == nil && it.iter != nil && it.iter.Valid()
}

func (it *runIter) Key() base.InternalKey { return it.iter.Key() }
func (it *runIter) Value() []byte         { return it.iter.Value() }

// StoredValue forwards to the current file's iterator.
func (it *runIter) StoredValue() ([]byte, bool) { return it.iter.StoredValue() }
func (it *runIter) Error() error                { return it.err }

func (it *runIter) Close() error {
	if it.iter != nil {
		if err := it.iter.Close(); err != nil && it.err == nil {
			it.err = err
		}
		it.iter = nil
	}
	return it.err
}
