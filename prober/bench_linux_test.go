package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inFlight are the concurrency levels the engine is measured at. Compare
// BenchmarkCheck with BenchmarkBareSyscalls at the same level, in one run:
//
//	go test -run '^$' -bench 'Check|Bare' -count 6 ./prober | tee new.txt
var inFlight = []int{1, 64, 1024}

func BenchmarkCheck(b *testing.B) {
	c := newChecker(b)
	target := benchTarget(b)
	for _, n := range inFlight {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			runParallel(b, n, func() {
				r := c.CheckAddr(context.Background(), target, DefaultOptions())
				if r.Class != ClassOpen {
					b.Errorf("check: %v %v", r.Class, r.Err)
				}
			})
		})
	}
}

// BenchmarkBareSyscalls is the floor the engine is compared with: one
// goroutine keeping n sockets in flight with nothing but socket,
// setsockopt, connect, epoll and close.
func BenchmarkBareSyscalls(b *testing.B) {
	target := benchTarget(b)
	for _, n := range inFlight {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			bareLoop(b, target, n)
		})
	}
}

func benchTarget(b *testing.B) netip.AddrPort {
	ln := listen(b, "tcp4", "127.0.0.1:0")
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// runParallel calls f b.N times from n goroutines.
func runParallel(b *testing.B, n int, f func()) {
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Go(func() {
			for range work {
				f()
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checks/s")
}

func bareLoop(b *testing.B, target netip.AddrPort, n int) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(epfd)
	sa := &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()}
	open := func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
			b.Fatal(err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	started := 0
	for ; started < min(n, b.N); started++ {
		open()
	}
	events := make([]unix.EpollEvent, maxEvents)
	for done := 0; done < b.N; {
		k, err := unix.EpollWait(epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range events[:k] {
			unix.GetsockoptTCPInfo(int(ev.Fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			unix.Close(int(ev.Fd))
			done++
			if started < b.N {
				open()
				started++
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checks/s")
}
