package cache

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

// ghostNode is one page id remembered in A1out, linked by index.
type ghostNode struct {
	id         PageID
	prev, next int32 // -1: none
}

// ghostList is A1out: a FIFO of at most limit page ids. The shard's table
// is its index (pageTable), so the list only keeps the order. Its nodes
// are allocated once, by init; those not in the list are chained through
// next from spare.
type ghostList struct {
	nodes      []ghostNode
	head, tail int32 // head = most recently added; -1 when empty
	spare      int32 // first unused node, -1 when none
	n, limit   int
}

// init allocates room for limit ids.
func (g *ghostList) init(limit int) {
	g.limit = limit
	g.nodes = make([]ghostNode, limit)
	g.head, g.tail, g.spare = -1, -1, -1
	for i := limit - 1; i >= 0; i-- {
		g.nodes[i].next = g.spare
		g.spare = int32(i)
	}
}

// full reports whether the list holds limit ids.
func (g *ghostList) full() bool { return g.n >= g.limit }

// push remembers id at the head and returns its node. The list must not be
// full.
func (g *ghostList) push(id PageID) int32 {
	i := g.spare
	n := &g.nodes[i]
	g.spare = n.next
	*n = ghostNode{id: id, prev: -1, next: g.head}
	if g.head >= 0 {
		g.nodes[g.head].prev = i
	} else {
		g.tail = i
	}
	g.head = i
	g.n++
	return i
}

// unlink takes node i out of the list and returns it to the spares.
func (g *ghostList) unlink(i int32) {
	n := &g.nodes[i]
	if n.prev >= 0 {
		g.nodes[n.prev].next = n.next
	} else {
		g.head = n.next
	}
	if n.next >= 0 {
		g.nodes[n.next].prev = n.prev
	} else {
		g.tail = n.prev
	}
	*n = ghostNode{prev: -1, next: g.spare}
	g.spare = i
	g.n--
}
