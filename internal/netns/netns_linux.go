package netns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// ErrClosed is returned by the methods of an NS that has been closed.
var ErrClosed = errors.New("netns: namespace closed")

// NS is a network namespace held open by this process. Its methods are
// safe for concurrent use.
type NS struct {
	name string

	// mu keeps Close from closing fd while Do is entering the namespace.
	mu sync.RWMutex
	fd int // -1 once closed
}

// New creates a namespace for t with lo up and deletes it when t ends. It
// skips t (fails it under CI=true) when namespaces are unavailable.
func New(t testing.TB) *NS {
	t.Helper()
	testenv.RequireNetns(t)
	ns, err := Create("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("netns: %v", err)
		}
	})
	return ns
}

// Create makes a new network namespace with lo up. The name only labels
// it in errors; an empty name picks a random "synack-test-…" one. Close
// releases it.
func Create(name string) (*NS, error) {
	if name == "" {
		name = fmt.Sprintf("synack-test-%08x", rand.Uint32())
	}
	fd, err := unshare()
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	ns := &NS{name: name, fd: fd}
	if err := ns.LinkUp("lo"); err != nil {
		return nil, errors.Join(err, ns.Close())
	}
	return ns, nil
}

// unshare returns a descriptor of a new network namespace. It moves a
// fresh thread into the namespace and never unlocks it, so the runtime
// ends that thread rather than lend it to another goroutine.
func unshare() (int, error) {
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- result{-1, os.NewSyscallError("unshare", err)}
			return
		}
		fd, err := openThreadNetns()
		c <- result{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}

// openThreadNetns opens the namespace of the calling thread, which is not
// necessarily the process's (/proc/self is the main thread's).
func openThreadNetns() (int, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("open /proc/thread-self/ns/net", err)
	}
	return fd, nil
}

// Name returns the label given at creation.
func (ns *NS) Name() string { return ns.name }

// String returns the name, for messages.
func (ns *NS) String() string { return ns.name }

// Path returns a file that refers to the namespace while it is open, for
// nsenter --net=PATH or setns from another process.
func (ns *NS) Path() string {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.fd)
}

// Close releases the namespace. The kernel destroys it, with its devices,
// once no socket or device file in it remains open either.
func (ns *NS) Close() error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.fd < 0 {
		return nil
	}
	err := unix.Close(ns.fd)
	ns.fd = -1
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns.name, os.NewSyscallError("close", err))
	}
	return nil
}

// Do calls f on an OS thread inside the namespace and returns its error.
// Sockets and TUN devices that f creates belong to the namespace; so do
// processes it starts, because fork copies the calling thread's namespace.
// Goroutines that f starts run outside it.
//
// f runs on its own goroutine: a panic in f is re-raised in the caller,
// and runtime.Goexit in f (t.FailNow, t.Skip) ends the caller too, so f may
// call t.Fatal as if it ran on the test's goroutine. If the thread cannot
// be switched back, it is left locked so the runtime discards it.
func (ns *NS) Do(f func() error) error {
	c := make(chan outcome, 1)
	go ns.run(f, c)
	o := <-c
	switch {
	case o.panicked:
		panic(o.panicValue)
	case o.goexit:
		runtime.Goexit()
	}
	return o.err
}

// outcome is how f ended.
type outcome struct {
	err        error
	panicked   bool
	panicValue any
	goexit     bool
}

func (ns *NS) run(f func() error, c chan<- outcome) {
	o := outcome{goexit: true} // unless f returns or panics
	defer func() { c <- o }()
	runtime.LockOSThread()
	back, err := ns.enter()
	if err != nil {
		runtime.UnlockOSThread()
		o = outcome{err: err}
		return
	}
	defer func() {
		if err := leave(back); err != nil {
			// Still locked: the thread dies with this goroutine.
			o.err = errors.Join(o.err, fmt.Errorf("netns %s: switching back: %w", ns.name, err))
			return
		}
		runtime.UnlockOSThread()
	}()
	defer func() {
		if p := recover(); p != nil {
			o = outcome{panicked: true, panicValue: p}
		}
	}()
	o.err = f()
	o.goexit = false
}

// enter moves the calling, locked thread into ns and returns a descriptor
// of the namespace it was in.
func (ns *NS) enter() (int, error) {
	back, err := openThreadNetns()
	if err != nil {
		return -1, fmt.Errorf("netns %s: %w", ns.name, err)
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	if ns.fd < 0 {
		unix.Close(back)
		return -1, fmt.Errorf("netns %s: %w", ns.name, ErrClosed)
	}
	if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
		unix.Close(back)
		return -1, fmt.Errorf("netns %s: %w", ns.name, os.NewSyscallError("setns", err))
	}
	return back, nil
}

// leave moves the calling thread back into the namespace back refers to.
func leave(back int) error {
	defer unix.Close(back)
	if err := unix.Setns(back, unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// LinkUp sets the IFF_UP flag of device dev, as `ip link set dev up` does,
// without starting a process.
func (ns *NS) LinkUp(dev string) error {
	err := ns.Do(func() error {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		defer unix.Close(s)
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			return os.NewSyscallError("ioctl SIOCGIFFLAGS", err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
			return os.NewSyscallError("ioctl SIOCSIFFLAGS", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netns %s: link %s up: %w", ns.name, dev, err)
	}
	return nil
}
