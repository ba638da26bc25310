package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

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
