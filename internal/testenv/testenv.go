// Package testenv decides whether a test that needs root, network
// namespaces, nftables or TUN can run on this machine.
//
// Such a test skips with a clear message when the machine cannot run it,
// except under CI=true, where a skip would hide a broken CI machine: there
// the same check fails the test.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// hint tells a developer how to run the test, or how to make CI insist on it.
const hint = "needs root and network namespaces: run as root, or set CI=true to make this a failure"

// RequireRoot skips t (fails it under CI=true) unless the process runs as
// root.
func RequireRoot(t testing.TB) {
	t.Helper()
	require(t, CheckRoot())
}

// RequireNetns skips t (fails it under CI=true) unless the process may
// create network namespaces.
func RequireNetns(t testing.TB) {
	t.Helper()
	require(t, CheckNetns())
}

// RequireNft skips t (fails it under CI=true) unless the nft binary can
// load a ruleset inside a fresh network namespace.
func RequireNft(t testing.TB) {
	t.Helper()
	require(t, CheckNft())
}

// RequireTUN skips t (fails it under CI=true) unless a TUN device can be
// created inside a fresh network namespace.
func RequireTUN(t testing.TB) {
	t.Helper()
	require(t, CheckTUN())
}

func require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (%v)", hint, err)
		return
	}
	t.Skipf("%s (%v)", hint, err)
}

// CheckRoot reports why the process is not root, or nil.
func CheckRoot() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("running as uid %d, not root", uid)
	}
	return nil
}

// The probes below create and discard a namespace, a ruleset and a device,
// so each runs once per test binary.
var (
	netnsOnce = sync.OnceValue(probeNetns)
	nftOnce   = sync.OnceValue(probeNft)
	tunOnce   = sync.OnceValue(probeTUN)
)

// CheckNetns reports why network namespaces cannot be created, or nil.
func CheckNetns() error {
	if err := CheckRoot(); err != nil {
		return err
	}
	return netnsOnce()
}

// CheckNft reports why nft cannot be used inside a network namespace, or
// nil.
func CheckNft() error {
	if err := CheckNetns(); err != nil {
		return err
	}
	return nftOnce()
}

// CheckTUN reports why a TUN device cannot be created inside a network
// namespace, or nil.
func CheckTUN() error {
	if err := CheckNetns(); err != nil {
		return err
	}
	return tunOnce()
}

func probeNetns() error {
	return inScratchNetns(func() error { return nil })
}

func probeNft() error {
	path, err := exec.LookPath("nft")
	if err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	return inScratchNetns(func() error {
		// A child forked from this locked thread inherits its namespace.
		out, err := exec.Command(path, "add", "table", "inet", "synack_probe").CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft add table: %w: %s", err, out)
		}
		return nil
	})
}

func probeTUN() error {
	return inScratchNetns(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("/dev/net/tun: %w", os.NewSyscallError("open", err))
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq("")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return fmt.Errorf("/dev/net/tun: %w", os.NewSyscallError("ioctl TUNSETIFF", err))
		}
		return nil
	})
}

// inScratchNetns runs f on a fresh OS thread moved into a new, empty
// network namespace. The thread is never unlocked, so the runtime ends it
// when f returns instead of handing it, still in the scratch namespace, to
// another goroutine; the namespace dies with its last thread.
func inScratchNetns(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("network namespace: %w", os.NewSyscallError("unshare", err))
			return
		}
		errc <- f()
	}()
	return <-errc
}
