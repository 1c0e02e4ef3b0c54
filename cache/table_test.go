package cache

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/seed-d6fe07da/strata/internal/base"
)

// TestPageTable inserts and deletes ids in a small table, through A1out
// entries, and checks every lookup against a set: with a few dozen slots
// the probe paths overlap and wrap around the end, which exercises the
// backward shift of deleteAt.
func TestPageTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.IntRange(1, 24).Draw(t, "limit")
		var s shard
		s.ghosts.init(limit)
		s.table.init(limit)
		model := map[PageID]int32{}
		genID := rapid.Custom(func(t *rapid.T) PageID {
			return PageID{File: base.FileNum(rapid.IntRange(1, 3).Draw(t, "file")), Page: base.PageNum(rapid.IntRange(0, 40).Draw(t, "page"))}
		})
		for range rapid.IntRange(1, 200).Draw(t, "ops") {
			id := genID.Draw(t, "id")
			slot, ref := s.lookupLocked(id)
			g, ok := model[id]
			if ok != (ref != 0) || (ok && ref != ghostRef|uint32(g+1)) {
				t.Fatalf("lookup %v = %#x, want present %v (node %d)", id, ref, ok, g)
			}
			switch {
			case ok:
				s.forgetGhostLocked(g)
				delete(model, id)
			case !s.ghosts.full():
				g := s.ghosts.push(id)
				s.setLocked(slot, id, ghostRef|uint32(g+1))
				model[id] = g
			}
			used := 0
			for _, sl := range s.table.slots {
				if sl.ref != 0 {
					used++
				}
			}
			if used != len(model) || s.ghosts.n != len(model) {
				t.Fatalf("table holds %d entries and the list %d, want %d", used, s.ghosts.n, len(model))
			}
			for id, g := range model {
				if _, ref := s.lookupLocked(id); ref != ghostRef|uint32(g+1) {
					t.Fatalf("%v not found after the change", id)
				}
			}
		}
	})
}
