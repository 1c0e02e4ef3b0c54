package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/seed-d6fe07da/strata/db"
)

// syncBuffer collects raft's log output from every node; it is printed
// only if the test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// node is one member of a test cluster: its directories outlive its
// raft instance, so it can be stopped and started again.
type node struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	dir   string
	store *Store
	fsm   *FSM
	trans *raft.InmemTransport
	r     *raft.Raft
}

type cluster struct {
	t     *testing.T
	log   *syncBuffer
	nodes []*node
	// noRestoreOnStart sets raft.Config.NoSnapshotRestoreOnStart.
	noRestoreOnStart bool
}

// trailingLogs is low so that a snapshot truncates the log and a node
// that fell behind needs InstallSnapshot.
const trailingLogs = 20

func newCluster(t *testing.T, n int, noRestoreOnStart bool) *cluster {
	c := &cluster{t: t, log: &syncBuffer{}, noRestoreOnStart: noRestoreOnStart}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.r != nil {
				c.stop(nd)
			}
		}
		if t.Failed() {
			t.Logf("raft log:\n%s", c.log.String())
		}
	})
	var servers []raft.Server
	for i := range n {
		id := raft.ServerID("n" + strconv.Itoa(i+1))
		nd := &node{id: id, addr: raft.ServerAddress(id), dir: t.TempDir()}
		c.nodes = append(c.nodes, nd)
		servers = append(servers, raft.Server{ID: nd.id, Address: nd.addr, Suffrage: raft.Voter})
	}
	for _, nd := range c.nodes {
		c.start(nd, &raft.Configuration{Servers: servers})
	}
	return c
}

// start opens a node's stores from its directories and starts raft on
// them; bootstrap is the initial configuration of a new cluster, nil on
// a restart.
func (c *cluster) start(nd *node, bootstrap *raft.Configuration) {
	t := c.t
	var err error
	small := &db.Options{MemtableSize: 256 << 10, CacheSize: 1 << 20}
	if nd.store, err = Open(filepath.Join(nd.dir, "raft"), small); err != nil {
		t.Fatal(err)
	}
	if nd.fsm, err = OpenFSM(filepath.Join(nd.dir, "fsm"), small); err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(filepath.Join(nd.dir, "snapshots"), 2, c.log)
	if err != nil {
		t.Fatal(err)
	}
	_, nd.trans = raft.NewInmemTransport(nd.addr)
	conf := raft.DefaultConfig()
	conf.LocalID = nd.id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 100 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 1 << 40 // snapshots only when the test asks
	conf.SnapshotInterval = time.Hour
	conf.TrailingLogs = trailingLogs
	conf.LogOutput = c.log
	conf.LogLevel = "INFO"
	conf.NoSnapshotRestoreOnStart = c.noRestoreOnStart
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, nd.store, nd.store, snaps, nd.trans, *bootstrap); err != nil {
			t.Fatal(err)
		}
	}
	if nd.r, err = raft.NewRaft(conf, nd.fsm, nd.store, nd.store, snaps, nd.trans); err != nil {
		t.Fatal(err)
	}
	c.connect(nd)
}

// stop shuts a node's raft down and closes its stores, as a process exit
// would.
func (c *cluster) stop(nd *node) {
	if err := nd.r.Shutdown().Error(); err != nil {
		c.t.Errorf("shutdown %s: %v", nd.id, err)
	}
	nd.r = nil
	c.isolate(nd)
	nd.trans.Close()
	if err := nd.store.Close(); err != nil {
		c.t.Errorf("close %s: %v", nd.id, err)
	}
	if err := nd.fsm.Close(); err != nil {
		c.t.Errorf("close %s: %v", nd.id, err)
	}
}

// connect joins nd's transport with every other running node's, both
// ways.
func (c *cluster) connect(nd *node) {
	for _, o := range c.nodes {
		if o != nd && o.r != nil {
			nd.trans.Connect(o.addr, o.trans)
			o.trans.Connect(nd.addr, nd.trans)
		}
	}
}

// isolate cuts nd off from every other node, both ways.
func (c *cluster) isolate(nd *node) {
	nd.trans.DisconnectAll()
	for _, o := range c.nodes {
		if o != nd && o.trans != nil {
			o.trans.Disconnect(nd.addr)
		}
	}
}

// leader waits for a running node to lead, other than not.
func (c *cluster) leader(not *node) *node {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if nd != not && nd.r != nil && nd.r.State() == raft.Leader {
				return nd
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader elected within 10s")
	return nil
}

// fsmIndex returns the index the FSMs must reach to hold everything
// committed so far: the leader's FSM index after a barrier. (Raft's own
// AppliedIndex counts the no-op entry each new leader appends, which
// never reaches an FSM, and moves before the FSM has applied.)
func (c *cluster) fsmIndex() uint64 {
	c.t.Helper()
	for range 5 {
		ld := c.leader(nil)
		if err := ld.r.Barrier(5 * time.Second).Error(); err == nil {
			return ld.fsm.AppliedIndex()
		}
	}
	c.t.Fatal("no barrier succeeded in 5 tries")
	return 0
}

// waitApplied waits until nd's FSM has applied index.
func (c *cluster) waitApplied(nd *node, index uint64) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for nd.fsm.AppliedIndex() < index {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s applied %d, want %d within 10s", nd.id, nd.fsm.AppliedIndex(), index)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// model is what the cluster must hold: the value of every key whose last
// write was acknowledged ("" for an acknowledged delete). A key whose
// last write failed may hold either outcome and is not checked.
type model struct {
	want      map[string]string
	uncertain map[string]bool
	acked     int
	failed    int
	hung      int // futures that never answered (counted in failed too)
}

func newModel() *model {
	return &model{want: make(map[string]string), uncertain: make(map[string]bool)}
}

// op is one write: a put, or a delete when value is "".
type op struct{ key, value string }

// write sends ops to the leader, all in flight at once, and records
// which were acknowledged; those that failed (leadership can move while
// the race detector slows everything) are sent again, up to three times,
// to whichever node leads then. Puts and deletes are idempotent, so a
// write retried after it was in fact committed does no harm.
func (m *model) write(c *cluster, ops []op) (leader *node) {
	for range 3 {
		leader = c.leader(nil)
		futures := make([]raft.ApplyFuture, len(ops))
		for i, o := range ops {
			cmd := PutCommand([]byte(o.key), []byte(o.value))
			if o.value == "" {
				cmd = DeleteCommand([]byte(o.key))
			}
			futures[i] = leader.r.Apply(cmd, 5*time.Second)
		}
		if ops = m.settle(ops, futures); len(ops) == 0 {
			break
		}
	}
	return leader
}

// errFutureHung stands for the result of a future that never answered.
var errFutureHung = errors.New("apply future did not answer within 10s")

// futureError waits for f and returns its error, or the error Apply's
// response carries. A future applied on a node that is shut down while
// the entry is in flight can block forever (hashicorp/raft issue 498,
// open in v1.7.2), so the wait is bounded and such a write counts as
// failed: its outcome is unknown, as a client's would be.
func futureError(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() {
		err := f.Error()
		if err == nil {
			if r, ok := f.Response().(error); ok {
				err = r
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return errFutureHung // the goroutine above stays blocked
	}
}

// settle waits for futures, the writes of ops, and returns the ops that
// failed.
func (m *model) settle(ops []op, futures []raft.ApplyFuture) (failed []op) {
	for i, f := range futures {
		err := futureError(f)
		k := ops[i].key
		if errors.Is(err, errFutureHung) {
			m.hung++
		}
		if err != nil {
			m.failed++
			m.uncertain[k] = true
			failed = append(failed, ops[i])
			continue
		}
		m.acked++
		m.want[k] = ops[i].value
		delete(m.uncertain, k)
	}
	return failed
}

func puts(prefix string, n int) []op {
	ops := make([]op, n)
	for i := range ops {
		ops[i] = op{fmt.Sprintf("%s/%04d", prefix, i), fmt.Sprintf("%s-value-%d", prefix, i)}
	}
	return ops
}

// holds counts the nodes whose state has every acknowledged write, and
// reports the first difference of each node that does not.
func (c *cluster) holds(m *model) (count int, misses []string) {
	for _, nd := range c.nodes {
		ok := true
		for k, want := range m.want {
			if m.uncertain[k] {
				continue
			}
			v, err := nd.fsm.Get([]byte(k))
			got := string(v)
			if errors.Is(err, db.ErrNotFound) {
				got, err = "", nil
			}
			if err != nil || got != want {
				misses = append(misses, fmt.Sprintf("%s: %s = %q, %v, want %q", nd.id, k, got, err, want))
				ok = false
				break
			}
		}
		if ok {
			count++
		}
	}
	return count, misses
}

// TestCluster runs three nodes over raft's in-memory transport, each on a
// Store and an FSM in its own directories, through a leader election, a
// leader stopped while writes are in flight, a restart from disk, and a
// node that falls so far behind it must be sent a snapshot. At the end
// every acknowledged write must be held by a majority (and, once they
// have caught up, by all).
func TestCluster(t *testing.T) {
	start := time.Now()
	c := newCluster(t, 3, false)
	m := newModel()

	// 1. A leader is elected.
	l1 := c.leader(nil)
	t.Logf("1. leader %s elected after %v", l1.id, time.Since(start).Round(time.Millisecond))

	// 2. Writes are replicated; the leader snapshots (truncating its log
	// to the last trailingLogs entries).
	m.write(c, puts("a", 300))
	l1 = c.leader(nil)
	if err := l1.r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	m.write(c, puts("b", 100))
	t.Logf("2. %d writes acknowledged, %d failed and retried; %s took a snapshot", m.acked, m.failed, l1.id)

	// 3. The leader is stopped while 100 writes are in flight: those it
	// acknowledged were committed, whatever happens to the rest.
	l1 = c.leader(nil)
	inflight := puts("c", 100)
	futures := make([]raft.ApplyFuture, len(inflight))
	for i, o := range inflight {
		futures[i] = l1.r.Apply(PutCommand([]byte(o.key), []byte(o.value)), 5*time.Second)
	}
	c.stop(l1)
	ackedBefore, failedBefore := m.acked, m.failed
	m.settle(inflight, futures) // not retried: their fate is what is tested
	l2 := c.leader(l1)
	t.Logf("3. %s stopped with 100 writes in flight (%d acknowledged, %d failed, of which %d never answered); %s elected",
		l1.id, m.acked-ackedBefore, m.failed-failedBefore, m.hung, l2.id)
	ackedBefore, failedBefore = m.acked, m.failed
	m.write(c, puts("d", 200))
	var deletes []op // delete every tenth "a" key
	for i := 0; i < 300; i += 10 {
		deletes = append(deletes, op{key: fmt.Sprintf("a/%04d", i)})
	}
	m.write(c, deletes)
	t.Logf("   %d more writes acknowledged with two nodes (200 puts, 30 deletes), %d failed and retried",
		m.acked-ackedBefore, m.failed-failedBefore)

	// 4. The stopped node restarts from its directories: raft restores
	// its snapshot into the FSM, replays its log, and catches up.
	c.start(l1, nil)
	c.waitApplied(l1, c.fsmIndex())
	if l1.fsm.Restores() != 1 {
		t.Fatalf("%s restored %d snapshots on restart, want 1", l1.id, l1.fsm.Restores())
	}
	t.Logf("4. %s restarted from disk: restored its snapshot at index %s, caught up to index %d",
		l1.id, l1.r.Stats()["last_snapshot_index"], l1.fsm.AppliedIndex())

	// 5. A follower is cut off, the leader writes and snapshots, which
	// truncates its log past the follower's last entry; reconnected, the
	// follower can only catch up by InstallSnapshot.
	ld := c.leader(nil)
	var behind *node
	for _, nd := range c.nodes {
		if nd != ld {
			behind = nd // the last follower: the restarted node when it follows
		}
	}
	c.isolate(behind)
	lastBehind, err := behind.store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	restores := behind.fsm.Restores()
	ackedBefore, failedBefore = m.acked, m.failed
	ld = m.write(c, puts("e", 300))
	if err := ld.r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := ld.store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= lastBehind+1 {
		t.Fatalf("leader's log starts at %d, %s's ends at %d: not truncated past it", first, behind.id, lastBehind)
	}
	c.connect(behind)
	c.waitApplied(behind, c.fsmIndex())
	if behind.fsm.Restores() != restores+1 {
		t.Fatalf("%s restored %d snapshots while catching up, want 1", behind.id, behind.fsm.Restores()-restores)
	}
	// Raft records the installed snapshot just after the FSM restored it.
	var installed uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if installed, _ = strconv.ParseUint(behind.r.Stats()["last_snapshot_index"], 10, 64); installed >= first {
			break
		}
	}
	if installed < first {
		t.Fatalf("%s's last snapshot is at %d, want one past the leader's first log index %d", behind.id, installed, first)
	}
	t.Logf("5. %s cut off at log index %d; %s took %d writes (%d failed and retried) and a snapshot, its log now starting at %d; reconnected, %s installed a snapshot at index %d and caught up to %d",
		behind.id, lastBehind, ld.id, m.acked-ackedBefore, m.failed-failedBefore, first, behind.id,
		installed, behind.fsm.AppliedIndex())

	// 6. Every acknowledged write is on a majority, and on all three once
	// they have applied what the leader has.
	index := c.fsmIndex()
	for _, nd := range c.nodes {
		c.waitApplied(nd, index)
	}
	count, misses := c.holds(m)
	if count < 2 {
		t.Fatalf("acknowledged writes held by %d of 3 nodes:\n%v", count, misses)
	}
	if count < 3 {
		t.Errorf("acknowledged writes held by %d of 3 nodes after catching up:\n%v", count, misses)
	}
	ld = c.leader(nil)
	committed := 0 // failed writes that were committed all the same
	for k := range m.uncertain {
		if _, err := ld.fsm.Get([]byte(k)); err == nil {
			committed++
		}
	}
	t.Logf("6. all %d acknowledged writes (%d keys) held by %d of 3 nodes; %d keys' last write failed, and %d of those were committed anyway; %v in all",
		m.acked, len(m.want), count, len(m.uncertain), committed, time.Since(start).Round(time.Millisecond))
}

// TestRestartWithoutRestore restarts a node with
// raft.Config.NoSnapshotRestoreOnStart: raft then does not restore its
// snapshot and replays only the entries after it, so the FSM must hold
// at least what the snapshot held, which the checkpoint behind every
// snapshot makes durable. Nothing is restored, nothing is lost, and
// writes go on.
func TestRestartWithoutRestore(t *testing.T) {
	c := newCluster(t, 1, true)
	m := newModel()
	nd := c.leader(nil)
	m.write(c, puts("a", 100))
	if err := nd.r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	m.write(c, puts("b", 50))
	c.stop(nd)
	c.start(nd, nil)
	m.write(c, puts("c", 50))
	c.waitApplied(nd, c.fsmIndex())
	if n := nd.fsm.Restores(); n != 0 {
		t.Fatalf("%d snapshots restored at start, want 0", n)
	}
	if count, misses := c.holds(m); count != 1 {
		t.Fatalf("acknowledged writes missing after restart: %v", misses)
	}
	if m.acked != 200 {
		t.Fatalf("%d writes acknowledged, want 200", m.acked)
	}
}
