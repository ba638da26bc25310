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
	"sync"
	"testing"
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
