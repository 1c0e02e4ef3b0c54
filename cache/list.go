package cache

import "github.com/seed-d6fe07da/strata/internal/base"

// frameList is an intrusive doubly linked list of frames: A1in or Am. The
// head is the most recently inserted or used frame, the tail the next
// candidate for eviction. Pinned frames stay in their list (so a FIFO keeps
// its order across a pin); eviction skips them. Linking through the frames
// themselves means moving a frame allocates nothing, which keeps a hit free
// of allocations; container/list was rejected for that reason.
type frameList struct {
	head, tail *frame
	n          int
}

// pushFront inserts f, which is in no list, at the head.
func (l *frameList) pushFront(f *frame) {
	f.prev, f.next = nil, l.head
	if l.head != nil {
		l.head.prev = f
	} else {
		l.tail = f
	}
	l.head = f
	l.n++
}

// remove unlinks f, which is in l.
func (l *frameList) remove(f *frame) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = nil, nil
	l.n--
}

// moveToFront makes f, which is in l, the head.
func (l *frameList) moveToFront(f *frame) {
	if l.head == f {
		return
	}
	l.remove(f)
	l.pushFront(f)
}

// lastUnpinned returns the unpinned frame nearest the tail, or nil. It walks
// past pinned frames, which are few: each is held by a reader between Get
// and Release.
func (l *frameList) lastUnpinned() *frame {
	for f := l.tail; f != nil; f = f.prev {
		if f.pins == 0 {
			return f
		}
	}
	return nil
}

// ghost is one page id remembered in A1out.
type ghost struct {
	id         PageID
	prev, next *ghost
}

// ghostList is A1out: a FIFO of at most limit page ids, with an index for
// membership tests. Its nodes are allocated once, by init.
type ghostList struct {
	head, tail *ghost // head = most recently added
	index      map[PageID]*ghost
	spare      []*ghost // nodes not in the list
	limit      int
}

// init allocates room for limit ids.
func (g *ghostList) init(limit int) {
	g.limit = limit
	g.index = make(map[PageID]*ghost, limit)
	nodes := make([]ghost, limit)
	g.spare = make([]*ghost, limit)
	for i := range nodes {
		g.spare[i] = &nodes[i]
	}
}

// contains reports whether id is remembered.
func (g *ghostList) contains(id PageID) bool {
	_, ok := g.index[id]
	return ok
}

// push remembers id, which is not yet remembered, forgetting the oldest id
// if the list is full.
func (g *ghostList) push(id PageID) {
	if g.limit == 0 {
		return
	}
	if len(g.index) >= g.limit {
		g.unlink(g.tail)
	}
	n := g.spare[len(g.spare)-1]
	g.spare = g.spare[:len(g.spare)-1]
	n.id, n.prev, n.next = id, nil, g.head
	if g.head != nil {
		g.head.prev = n
	} else {
		g.tail = n
	}
	g.head = n
	g.index[id] = n
}

// remove forgets id if it is remembered.
func (g *ghostList) remove(id PageID) {
	if n, ok := g.index[id]; ok {
		g.unlink(n)
	}
}

// removeFile forgets every id of file.
func (g *ghostList) removeFile(file base.FileNum) {
	for n := g.head; n != nil; {
		next := n.next
		if n.id.File == file {
			g.unlink(n)
		}
		n = next
	}
}

// unlink takes n out of the list and returns it to the spares.
func (g *ghostList) unlink(n *ghost) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		g.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		g.tail = n.prev
	}
	delete(g.index, n.id)
	*n = ghost{}
	g.spare = append(g.spare, n)
}
