package cache

import "math/bits"

// pageTable is a shard's index of page ids: each resident or loading frame
// and, under 2Q, each id remembered in A1out has one slot, which refers to
// the frame or to the A1out entry. One table for both means a miss that
// finds its id in A1out takes over the id's slot, and a frame reclaimed from
// A1in leaves its slot to its A1out entry, without a second lookup.
//
// It is open addressing with linear probing in slots of 8 bytes: a 32-bit
// hash of the id (whose low bits are the slot the id starts probing at) and
// a 32-bit reference. A lookup reads the slots from the id's home until it
// finds the id or an empty slot; the table holds at most half as many
// entries as slots, so that is most often one cache line. The id itself is
// in the frame or the A1out entry, which a lookup reads only when the hash
// matches, and which a hit reads anyway to pin the frame. Deletion moves
// the entries that follow back along their probe paths (backward shift), so
// the table never holds tombstones.
//
// A Go map (and a second one for A1out) was the index before: a miss
// probed them five or six times (lookup, A1out membership, insert, two
// deletes), in 24-byte slots behind control words, and the probes were
// about 14% of the CPU of random gets over data ten times the pool.
type pageTable struct {
	slots []tableSlot
	mask  uint64 // len(slots)-1
}

// tableSlot is one slot of a pageTable; ref 0 marks it empty.
type tableSlot struct {
	hash uint32
	ref  uint32
}

// ghostRef marks a reference to an A1out entry; without it a reference is
// 1 + the index of a frame in shard.frames.
const ghostRef = 1 << 31

// init sizes the table for at most entries entries, in at least twice as
// many slots (a power of two).
func (t *pageTable) init(entries int) {
	n := 1 << bits.Len(uint(max(2*entries, 8)-1))
	t.slots = make([]tableSlot, n)
	t.mask = uint64(n - 1)
}

// hashID returns the table hash of id. It mixes differently from
// Pool.shardFor, whose bits are the same for every id of a shard.
func hashID(id PageID) uint32 {
	h := uint64(id.File)*0xc2b2ae3d27d4eb4f ^ uint64(id.Page)
	h *= 0x9e3779b97f4a7c15
	h ^= h >> 32
	return uint32(h)
}

// deleteAt empties slot i and moves back the entries after it that may
// take a place nearer their home, so that every entry stays reachable from
// its home slot without passing an empty one.
func (t *pageTable) deleteAt(i uint64) {
	for {
		t.slots[i] = tableSlot{}
		j := i
		for {
			j = (j + 1) & t.mask
			sl := t.slots[j]
			if sl.ref == 0 {
				return
			}
			// sl may fill the hole at i if i lies on its probe path, from
			// its home to j.
			if home := uint64(sl.hash) & t.mask; (j-home)&t.mask >= (j-i)&t.mask {
				t.slots[i] = sl
				i = j
				break
			}
		}
	}
}

// frameRef returns the table reference of f.
func (s *shard) frameRef(f *frame) uint32 { return f.index + 1 }

// ghostIndex returns the A1out node that reference ref, marked ghostRef,
// names.
func ghostIndex(ref uint32) int32 { return int32(ref&^ghostRef - 1) }

// refID returns the page id that reference ref names.
func (s *shard) refID(ref uint32) PageID {
	if ref&ghostRef != 0 {
		return s.ghosts.nodes[ghostIndex(ref)].id
	}
	return s.frames[ref-1].id
}

// lookupLocked returns id's slot and its reference, or, when id is not in
// the table, the empty slot that ends its probe path and 0.
func (s *shard) lookupLocked(id PageID) (slot uint64, ref uint32) {
	h := hashID(id)
	t := &s.table
	for i := uint64(h) & t.mask; ; i = (i + 1) & t.mask {
		sl := t.slots[i]
		if sl.ref == 0 {
			return i, 0
		}
		if sl.hash == h && s.refID(sl.ref) == id {
			return i, sl.ref
		}
	}
}

// frameLocked returns the frame that holds or is loading id, or nil.
func (s *shard) frameLocked(id PageID) *frame {
	if _, ref := s.lookupLocked(id); ref != 0 && ref&ghostRef == 0 {
		return &s.frames[ref-1]
	}
	return nil
}

// setLocked makes slot, which lookupLocked returned for id, refer to ref.
func (s *shard) setLocked(slot uint64, id PageID, ref uint32) {
	s.table.slots[slot] = tableSlot{hash: hashID(id), ref: ref}
}

// forgetGhostLocked removes A1out entry g from the table and the list.
func (s *shard) forgetGhostLocked(g int32) {
	slot, ref := s.lookupLocked(s.ghosts.nodes[g].id)
	if ref == ghostRef|uint32(g+1) {
		s.table.deleteAt(slot)
	}
	s.ghosts.unlink(g)
}
