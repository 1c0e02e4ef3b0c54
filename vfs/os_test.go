package vfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestOSLockSameProcess(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	fsys := Default()
	l, err := fsys.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := fsys.Lock(name); err == nil {
		l2.Close()
		t.Fatal("second Lock in the same process succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = fsys.Lock(name)
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	l.Close()
}

// lockChildEnv names the lock file a child test process tries to take.
const lockChildEnv = "STRATA_VFS_LOCK_CHILD"

// TestOSLockChild is the child half of TestOSLockOtherProcess: it does
// nothing unless run by it, and then prints "locked" or "busy".
func TestOSLockChild(t *testing.T) {
	name := os.Getenv(lockChildEnv)
	if name == "" {
		t.Skip("run by TestOSLockOtherProcess")
	}
	l, err := Default().Lock(name)
	if err != nil {
		os.Stdout.WriteString("busy\n")
		return
	}
	l.Close()
	os.Stdout.WriteString("locked\n")
}

func TestOSLockOtherProcess(t *testing.T) {
	if os.Getenv(lockChildEnv) != "" {
		t.Skip("child process")
	}
	name := filepath.Join(t.TempDir(), "LOCK")
	child := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestOSLockChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+name)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		switch {
		case strings.Contains(string(out), "busy"):
			return "busy"
		case strings.Contains(string(out), "locked"):
			return "locked"
		}
		t.Fatalf("child said:\n%s", out)
		return ""
	}
	l, err := Default().Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := child(); got != "busy" {
		t.Fatalf("child with lock held by parent: %s", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := child(); got != "locked" {
		t.Fatalf("child after parent released: %s", got)
	}
}
