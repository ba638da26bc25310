//go:build !linux

package testenv

import (
	"fmt"
	"runtime"
)

// errNotLinux: namespaces, nftables and TUN as used here are Linux's.
var errNotLinux = fmt.Errorf("network namespaces need Linux, this is %s", runtime.GOOS)

func probeNetns() error { return errNotLinux }
func probeNft() error   { return errNotLinux }
func probeTUN() error   { return errNotLinux }
