package prober

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
)

// pacedDelay is the fake peer's answer time in BenchmarkPaced: long
// enough that every check waits in the loop, as a remote target's does.
const pacedDelay = time.Millisecond

// BenchmarkPaced measures what a check costs in CPU when few are in
// flight and each waits for a remote answer, as under Prometheus's paced
// scrapes: the engine's hand-offs, wake-ups and timers, beside the floor
// of a goroutine that waits for the same socket in Go's own netpoller.
// Compare cpu-ns/check of engine and netpoller at the same level:
//
//	CI=true go test -run '^$' -bench Paced -count 6 ./prober | tee new.txt
//
// Each worker runs on a thread inside the fake peer's namespace (sockets
// belong to the namespace of the thread that makes them), for both.
func BenchmarkPaced(b *testing.B) {
	ns := netns.New(b)
	peer := fakepeer.Start(b, ns, fakepeer.Config{OpenPorts: []uint16{80}, Delay: pacedDelay})
	target := netip.AddrPortFrom(peer.Addr(), 80)
	c := newChecker(b)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("engine/inflight=%d", n), func(b *testing.B) {
			pacedRun(b, ns, peer, n, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if r := c.CheckAddr(ctx, target, DefaultOptions()); r.Class != ClassOpen || r.ACKSent() {
					b.Errorf("check: %v ack %v (%v)", r.Class, r.ACKSent(), r.Err)
				}
			})
		})
		b.Run(fmt.Sprintf("netpoller/inflight=%d", n), func(b *testing.B) {
			pacedRun(b, ns, peer, n, func() { netpollerCheck(b, target) })
		})
	}
}

// pacedRun calls f b.N times from n workers inside ns and reports the
// process's CPU time per call.
func pacedRun(b *testing.B, ns *netns.NS, peer *fakepeer.Peer, n int, f func()) {
	peer.Reset()
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	b.ResetTimer()
	before := cpuTime(b)
	for range n {
		wg.Go(func() {
			ns.Do(func() error {
				for range work {
					f()
				}
				return nil
			})
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/check")
	peer.Reset() // the log would grow for the whole run
}

// netpollerCheck is a half-open check with nothing but the syscalls and
// Go's netpoller: the floor an engine with its own loop is held to.
func netpollerCheck(b *testing.B, target netip.AddrPort) {
	fd, err := openSocket(FamilyOf(target.Addr()).socketFamily(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	sa, _ := sockaddr(target, unix.AF_INET)
	if err := unix.Connect(fd, sa); err != unix.EINPROGRESS {
		b.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "check") // registers fd with the netpoller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var info *unix.TCPInfo
	err = rc.Write(func(fd uintptr) bool {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		return err != nil || info.State != tcpSynSent
	})
	if err != nil || info == nil || info.State != tcpEstablished {
		b.Errorf("netpoller check: %v %+v", err, info)
	}
}
