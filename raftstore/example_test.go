package raftstore_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"github.com/seed-d6fe07da/strata/raftstore"
)

// Example runs a one-node cluster on a Store and an FSM: bootstrap,
// wait to lead, write through raft, read the replicated map.
func Example() {
	dir, err := os.MkdirTemp("", "raftstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := raftstore.Open(filepath.Join(dir, "raft"), nil)
	if err != nil {
		panic(err)
	}
	fsm, err := raftstore.OpenFSM(filepath.Join(dir, "fsm"), nil)
	if err != nil {
		panic(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		panic(err)
	}
	addr, trans := raft.NewInmemTransport("")
	conf := raft.DefaultConfig()
	conf.LocalID = "node1"
	conf.LogOutput = io.Discard
	r, err := raft.NewRaft(conf, fsm, store, store, snaps, trans)
	if err != nil {
		panic(err)
	}
	servers := []raft.Server{{ID: conf.LocalID, Address: addr}}
	if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		panic(err)
	}
	for r.State() != raft.Leader {
		time.Sleep(10 * time.Millisecond)
	}

	if err := r.Apply(raftstore.PutCommand([]byte("user/42"), []byte("alice")), 5*time.Second).Error(); err != nil {
		panic(err)
	}
	v, err := fsm.Get([]byte("user/42"))
	fmt.Printf("%s %v\n", v, err)

	if err := r.Shutdown().Error(); err != nil {
		panic(err)
	}
	if err := store.Close(); err != nil {
		panic(err)
	}
	if err := fsm.Close(); err != nil {
		panic(err)
	}
	// Output: alice <nil>
}
