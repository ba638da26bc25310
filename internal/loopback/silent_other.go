//go:build !linux

package loopback

import (
	"net/netip"
	"testing"
)

// Silent skips t: the full-accept-queue trick is Linux behaviour.
func Silent(t testing.TB) netip.AddrPort {
	t.Skip("a silent loopback target needs Linux")
	return netip.AddrPort{}
}
