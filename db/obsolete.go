package db

import (
	"sync"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/lsm"
)

// # Deleting obsolete files
//
// An SST becomes obsolete when the last version naming it is released,
// which is often a reader's doing: the Get or iterator that held the old
// view. Closing the file's reader, dropping its pages from the buffer pool
// and removing the file are I/O and locking that the reader should not pay
// for, so fileObsolete only queues the file, and the deleter goroutine does
// the rest. Once Close has stopped the deleter, a file that becomes
// obsolete (an iterator left open and closed later) is deleted at once.

// obsoleteFile is an SST waiting for the deleter.
type obsoleteFile struct {
	num   base.FileNum
	pages uint32
}

// obsoleteQueue hands obsolete files to the deleter goroutine.
type obsoleteQueue struct {
	mu      sync.Mutex
	files   []obsoleteFile // guarded by mu
	stopped bool           // guarded by mu: the deleter has exited
	wake    chan struct{}  // capacity 1: the deleter has work
	removed uint64         // guarded by mu: files removed
	errors  uint64         // guarded by mu: removals that failed
}

// fileObsolete is called when no version names f any more, on the
// goroutine that released the last such version; it queues f.
func (d *DB) fileObsolete(f *lsm.File) {
	of := obsoleteFile{num: f.FileNum, pages: uint32(f.Size / uint64(d.opts.PageSize))}
	q := &d.obsolete
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		d.deleteObsolete(of)
		return
	}
	q.files = append(q.files, of)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// deleterLoop deletes queued obsolete files until Close, and those queued
// when Close began.
func (d *DB) deleterLoop() {
	defer d.bgWG.Done()
	q := &d.obsolete
	for {
		closing := false
		select {
		case <-q.wake:
		case <-d.closeCh:
			closing = true
		}
		q.mu.Lock()
		files := q.files
		q.files = nil
		q.stopped = closing
		q.mu.Unlock()
		for _, of := range files {
			d.deleteObsolete(of)
		}
		if closing {
			return
		}
	}
}

// deleteObsolete closes the file's reader, drops its pages from the pool
// and removes it.
func (d *DB) deleteObsolete(of obsoleteFile) {
	d.tables.evict(of.num, of.pages)
	err := d.fs.Remove(d.path(base.MakeFilename(base.FileTypeTable, of.num)))
	q := &d.obsolete
	q.mu.Lock()
	if err != nil {
		q.errors++
	} else {
		q.removed++
	}
	q.mu.Unlock()
}
