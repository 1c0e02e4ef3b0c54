package cache

import (
	"encoding/binary"
	"fmt"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// The test loads write the page id, and optionally a generation, at both
// ends of the frame, so a reader can check it got the page it asked for.

// fillPage writes id and gen into buf.
func fillPage(buf []byte, id PageID, gen uint64) {
	clear(buf)
	putStamp(buf[:20], id, gen)
	putStamp(buf[len(buf)-20:], id, gen)
}

func putStamp(b []byte, id PageID, gen uint64) {
	binary.LittleEndian.PutUint64(b[0:], uint64(id.File))
	binary.LittleEndian.PutUint32(b[8:], uint32(id.Page))
	binary.LittleEndian.PutUint64(b[12:], gen)
}

func getStamp(b []byte) (PageID, uint64) {
	return PageID{
		File: base.FileNum(binary.LittleEndian.Uint64(b[0:])),
		Page: base.PageNum(binary.LittleEndian.Uint32(b[8:])),
	}, binary.LittleEndian.Uint64(b[12:])
}

// checkPage returns an error unless buf holds id, and returns its generation.
func checkPage(buf []byte, id PageID) (uint64, error) {
	got, gen := getStamp(buf[:20])
	got2, gen2 := getStamp(buf[len(buf)-20:])
	if got != id || got2 != id || gen != gen2 {
		return 0, fmt.Errorf("frame for %v holds %v (gen %d) / %v (gen %d)", id, got, gen, got2, gen2)
	}
	return gen, nil
}

// loadID returns a load that stamps id into the frame.
func loadID(id PageID) func([]byte) error {
	return func(buf []byte) error {
		fillPage(buf, id, 0)
		return nil
	}
}

// snapshot is the state of one shard, for tests.
type snapshot struct {
	a1in, am, a1out []PageID // head first
	pins            map[PageID]int32
	free, pinned    int
}

// snapshotShard copies shard i's lists under its lock.
func (p *Pool) snapshotShard(i int) snapshot {
	s := &p.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := snapshot{pins: make(map[PageID]int32), free: len(s.free), pinned: s.pinned}
	for f := s.a1in.head; f != nil; f = f.next {
		sn.a1in = append(sn.a1in, f.id)
	}
	for f := s.am.head; f != nil; f = f.next {
		sn.am = append(sn.am, f.id)
	}
	for g := s.ghosts.head; g >= 0; g = s.ghosts.nodes[g].next {
		sn.a1out = append(sn.a1out, s.ghosts.nodes[g].id)
	}
	entries := 0
	for i := range s.frames {
		if f := &s.frames[i]; f.q != qNone {
			if s.frameLocked(f.id) != f {
				panic(fmt.Sprintf("frame %d of page %v is not in the table", i, f.id))
			}
			sn.pins[f.id] = f.pins
			entries++
		}
	}
	for _, id := range sn.a1out {
		if _, ref := s.lookupLocked(id); ref&ghostRef == 0 {
			panic(fmt.Sprintf("A1out's page %v is not in the table", id))
		}
	}
	used := 0
	for _, sl := range s.table.slots {
		if sl.ref != 0 {
			used++
		}
	}
	if entries += len(sn.a1out); used != entries {
		panic(fmt.Sprintf("table holds %d entries for %d frames and ids", used, entries))
	}
	return sn
}
