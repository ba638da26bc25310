package prober

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestSummaryAggregates(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:22")
	b := netip.MustParseAddrPort("127.0.0.2:22")
	ms := time.Millisecond
	open := func(addr netip.AddrPort, synack time.Duration, retrans uint32) Result {
		return Result{Class: ClassOpen, Addr: addr, SYNACK: synack, RTT: synack / 2, SYNRetransmits: retrans}
	}
	fail := func(addr netip.AddrPort, c Class, errno syscall.Errno) Result {
		return Result{Class: c, Addr: addr, Errno: errno}
	}
	tests := []struct {
		name    string
		plan    Plan
		results []Result
		failure Result

		classes   map[Class]int
		lost      int
		synack    Spread
		rtt       time.Duration
		retrans   uint32
		worst     Class
		errno     syscall.Errno
		firstOpen int
		success   bool
		addrs     []AddressSummary
	}{
		{
			name:    "three open, odd count",
			plan:    Plan{SYNCount: 3},
			results: []Result{open(a, 9*ms, 0), open(a, 1*ms, 0), open(a, 5*ms, 0)},
			classes: map[Class]int{ClassOpen: 3},
			// Stddev of 1, 5, 9 ms: sqrt(32/3) ms.
			synack:    Spread{Median: 5 * ms, Min: 1 * ms, Max: 9 * ms, Stddev: 3265986 * time.Nanosecond},
			rtt:       2500 * time.Microsecond,
			worst:     ClassOpen,
			firstOpen: 0,
			success:   true,
			addrs:     []AddressSummary{{Addr: a, Checks: 3, Open: 3, Success: true}},
		},
		{
			name:      "even count: median is the mean of the middle two",
			plan:      Plan{SYNCount: 4},
			results:   []Result{open(a, 2*ms, 0), open(a, 4*ms, 0), open(a, 6*ms, 0), open(a, 100*ms, 0)},
			classes:   map[Class]int{ClassOpen: 4},
			synack:    Spread{Median: 5 * ms, Min: 2 * ms, Max: 100 * ms, Stddev: 41593269 * time.Nanosecond},
			rtt:       2500 * time.Microsecond,
			worst:     ClassOpen,
			firstOpen: 0,
			success:   true,
			addrs:     []AddressSummary{{Addr: a, Checks: 4, Open: 4, Success: true}},
		},
		{
			name: "loss: timeouts and answers after a retransmission, not refusals",
			plan: Plan{SYNCount: 5},
			results: []Result{
				fail(a, ClassTimeout, syscall.ETIMEDOUT), open(a, 1001*ms, 1), fail(a, ClassRefused, syscall.ECONNREFUSED),
				open(a, 1*ms, 0), fail(a, ClassUnreachable, syscall.EHOSTUNREACH),
			},
			classes:   map[Class]int{ClassOpen: 2, ClassTimeout: 1, ClassRefused: 1, ClassUnreachable: 1},
			lost:      2,
			synack:    Spread{Median: 501 * ms, Min: 1 * ms, Max: 1001 * ms, Stddev: 500 * ms},
			rtt:       250500 * time.Microsecond,
			retrans:   1,
			worst:     ClassTimeout,
			errno:     syscall.ETIMEDOUT,
			firstOpen: 1,
			success:   true,
			addrs:     []AddressSummary{{Addr: a, Checks: 5, Open: 2, Success: true}},
		},
		{
			name:      "min_open_ratio not met",
			plan:      Plan{SYNCount: 4, MinOpenRatio: 0.75},
			results:   []Result{open(a, ms, 0), fail(a, ClassRefused, syscall.ECONNREFUSED), open(a, ms, 0), fail(a, ClassRefused, syscall.ECONNREFUSED)},
			classes:   map[Class]int{ClassOpen: 2, ClassRefused: 2},
			synack:    Spread{Median: ms, Min: ms, Max: ms},
			rtt:       ms / 2,
			worst:     ClassRefused,
			errno:     syscall.ECONNREFUSED,
			firstOpen: 0,
			addrs:     []AddressSummary{{Addr: a, Checks: 4, Open: 2}},
		},
		{
			name:      "min_open_ratio met exactly",
			plan:      Plan{SYNCount: 10, MinOpenRatio: 0.7},
			results:   append(repeat(open(a, ms, 0), 7), repeat(fail(a, ClassRefused, syscall.ECONNREFUSED), 3)...),
			classes:   map[Class]int{ClassOpen: 7, ClassRefused: 3},
			synack:    Spread{Median: ms, Min: ms, Max: ms},
			rtt:       ms / 2,
			worst:     ClassRefused,
			errno:     syscall.ECONNREFUSED,
			firstOpen: 0,
			success:   true,
			addrs:     []AddressSummary{{Addr: a, Checks: 10, Open: 7, Success: true}},
		},
		{
			name:      "two addresses, all must answer",
			plan:      Plan{SYNCount: 2, AllAddresses: true, MinOpenRatio: 1},
			results:   []Result{open(a, ms, 0), fail(b, ClassRefused, syscall.ECONNREFUSED), open(a, 3*ms, 0), fail(b, ClassRefused, syscall.ECONNREFUSED)},
			classes:   map[Class]int{ClassOpen: 2, ClassRefused: 2},
			synack:    Spread{Median: 2 * ms, Min: ms, Max: 3 * ms, Stddev: ms},
			rtt:       ms,
			worst:     ClassRefused,
			errno:     syscall.ECONNREFUSED,
			firstOpen: 0,
			addrs: []AddressSummary{
				{Addr: a, Checks: 2, Open: 2, Success: true},
				{Addr: b, Checks: 2, Open: 0, Success: false},
			},
		},
		{
			name:      "expect timeout: every check must time out",
			plan:      Plan{SYNCount: 2, Expect: ExpectTimeout},
			results:   []Result{fail(a, ClassTimeout, syscall.ETIMEDOUT), fail(a, ClassTimeout, syscall.ETIMEDOUT)},
			classes:   map[Class]int{ClassTimeout: 2},
			lost:      2,
			worst:     ClassTimeout,
			errno:     syscall.ETIMEDOUT,
			firstOpen: -1,
			success:   true,
			addrs:     []AddressSummary{{Addr: a, Checks: 2, Success: true}},
		},
		{
			name:      "expect closed: one open answer fails it",
			plan:      Plan{SYNCount: 2, Expect: ExpectClosed},
			results:   []Result{fail(a, ClassRefused, syscall.ECONNREFUSED), open(a, ms, 0)},
			classes:   map[Class]int{ClassOpen: 1, ClassRefused: 1},
			synack:    Spread{Median: ms, Min: ms, Max: ms},
			rtt:       ms / 2,
			worst:     ClassRefused,
			errno:     syscall.ECONNREFUSED,
			firstOpen: 1,
			addrs:     []AddressSummary{{Addr: a, Checks: 2, Open: 1}},
		},
		{
			name:      "no check made: the failure is the worst",
			plan:      Plan{SYNCount: 3, Expect: ExpectClosed},
			failure:   Result{Class: ClassResolve, Errno: syscall.EINVAL},
			worst:     ClassResolve,
			errno:     syscall.EINVAL,
			firstOpen: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Plan: tt.plan, Results: tt.results, Failure: tt.failure}
			s.Summarize()
			for c := range classNames {
				if got, want := s.Classes[c], tt.classes[Class(c)]; got != want {
					t.Errorf("class %v: %d, want %d", Class(c), got, want)
				}
			}
			if s.Lost != tt.lost || s.SYNRetransmits != tt.retrans {
				t.Errorf("lost %d, retransmits %d; want %d, %d", s.Lost, s.SYNRetransmits, tt.lost, tt.retrans)
			}
			if s.SYNACK != tt.synack || s.RTT != tt.rtt {
				t.Errorf("synack %+v rtt %v, want %+v %v", s.SYNACK, s.RTT, tt.synack, tt.rtt)
			}
			if s.Worst.Class != tt.worst || s.Worst.Errno != tt.errno {
				t.Errorf("worst %v/%v, want %v/%v", s.Worst.Class, s.Worst.Errno, tt.worst, tt.errno)
			}
			firstOpen := slices.IndexFunc(s.Results, Result.Success)
			if first, ok := s.FirstOpenResult(); ok != (tt.firstOpen >= 0) || ok && first != s.Results[tt.firstOpen] {
				t.Errorf("first open %+v (%v), want result %d", first, ok, tt.firstOpen)
			}
			if firstOpen != tt.firstOpen || s.Success != tt.success {
				t.Errorf("first open %d, success %v; want %d, %v", firstOpen, s.Success, tt.firstOpen, tt.success)
			}
			if s.Checks != len(s.Results) {
				t.Errorf("Checks %d, want %d", s.Checks, len(s.Results))
			}
			if len(s.Addresses) != len(tt.addrs) {
				t.Fatalf("addresses %+v, want %+v", s.Addresses, tt.addrs)
			}
			for i := range tt.addrs {
				if s.Addresses[i] != tt.addrs[i] {
					t.Errorf("address %d: %+v, want %+v", i, s.Addresses[i], tt.addrs[i])
				}
			}
		})
	}
}

func TestSummaryLossRatio(t *testing.T) {
	results := append(repeat(Result{Class: ClassTimeout}, 3), repeat(Result{Class: ClassOpen}, 7)...)
	s := Summary{Results: results}
	s.Summarize()
	if got := s.LossRatio(); got != 0.3 {
		t.Errorf("loss ratio %g, want 0.3", got)
	}
	if r, ok := s.FirstOpenResult(); !ok || r.Class != ClassOpen {
		t.Errorf("first open: %v %v", r.Class, ok)
	}
	kept := s.WithoutResults()
	if kept.Results != nil || kept.LossRatio() != 0.3 || kept.Checks != 10 || kept.Classes != s.Classes {
		t.Errorf("without results: %d results, loss %g, %d checks", len(kept.Results), kept.LossRatio(), kept.Checks)
	}
	empty := Summary{}
	empty.Summarize()
	if got := empty.LossRatio(); got != 0 {
		t.Errorf("no checks: loss ratio %g, want 0", got)
	}
	if _, ok := empty.FirstOpenResult(); ok {
		t.Error("no checks: a first open result")
	}
}

func TestExpect(t *testing.T) {
	for _, e := range []Expect{ExpectOpen, ExpectClosed, ExpectRefused, ExpectTimeout, ExpectUnreachable, ExpectProhibited} {
		got, err := ParseExpect(e.String())
		if err != nil || got != e {
			t.Errorf("ParseExpect(%q) = %v, %v", e, got, err)
		}
	}
	if _, err := ParseExpect("filtered"); err == nil {
		t.Error(`ParseExpect("filtered") succeeded`)
	}
	met := map[Expect][]Class{
		ExpectOpen:        {ClassOpen},
		ExpectClosed:      {ClassRefused, ClassTimeout, ClassUnreachable, ClassProhibited},
		ExpectRefused:     {ClassRefused},
		ExpectTimeout:     {ClassTimeout},
		ExpectUnreachable: {ClassUnreachable},
		ExpectProhibited:  {ClassProhibited},
	}
	for e, classes := range met {
		for c := range classNames {
			want := false
			for _, m := range classes {
				want = want || m == Class(c)
			}
			if got := e.Met(Class(c)); got != want {
				t.Errorf("%v.Met(%v) = %v, want %v", e, Class(c), got, want)
			}
		}
	}
}

func TestChooseAddrs(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	mapped := netip.MustParseAddr("::ffff:127.0.0.1")
	all := []netip.Addr{v6, v4a, mapped, v4b}
	for _, tc := range []struct {
		name string
		opts Options
		want []netip.Addr
	}{
		{"both families, sorted, without repeats", DefaultOptions(), []netip.Addr{v4b, v4a, v6}},
		{"ip4 only", Options{PreferredIPProtocol: IP4}, []netip.Addr{v4b, v4a}},
		{"ip6 only", Options{PreferredIPProtocol: IP6}, []netip.Addr{v6}},
		{"source address decides", Options{IPProtocolFallback: true, SourceIPAddress: v6}, []netip.Addr{v6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseAddrs("h", all, tc.opts, true)
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := chooseAddrs("h", []netip.Addr{v4a}, Options{PreferredIPProtocol: IP6}, true); err == nil {
		t.Error("no address of the allowed family: no error")
	}
}

func repeat(r Result, n int) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// TestSummaryCountsACKsSent: ACKsSent counts the checks that let an ACK
// out, whatever their class, and ACKSent says whether any did.
func TestSummaryCountsACKsSent(t *testing.T) {
	leak := Result{Class: ClassOpen, ACKs: 1}
	quiet := Result{Class: ClassOpen}
	refused := Result{Class: ClassRefused}
	for _, tt := range []struct {
		name    string
		results []Result
		want    int
	}{
		{"no check", nil, 0},
		{"none leaked", []Result{quiet, refused, quiet}, 0},
		{"one of one", []Result{leak}, 1},
		{"two of four", []Result{leak, quiet, refused, leak}, 2},
		{"all three", []Result{leak, leak, leak}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Plan: Plan{SYNCount: max(len(tt.results), 1)}, Results: tt.results}
			s.ACKsSent, s.ACKSent = 99, true // Summarize recomputes them.
			s.Summarize()
			if s.ACKsSent != tt.want || s.ACKSent != (tt.want > 0) {
				t.Errorf("ACKsSent %d, ACKSent %v; want %d, %v", s.ACKsSent, s.ACKSent, tt.want, tt.want > 0)
			}
		})
	}
}

// TestLostAfterRetransmission: a check answered after the kernel re-sent
// its SYN is lost unless its kernel RTT sample (from the timestamp echo)
// shows the answer was the first SYN's. TestLossOnSlowPath has the
// figures from the wire.
func TestLostAfterRetransmission(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name string
		r    Result
		want bool
	}{
		{"answered, no retransmission", Result{Class: ClassOpen, SYNACK: 5 * ms, RTT: 5 * ms}, false},
		{"timeout", Result{Class: ClassTimeout}, true},
		{"refused", Result{Class: ClassRefused}, false},
		{"refused after a retransmission", Result{Class: ClassRefused, SYNRetransmits: 1}, true},
		// The SYN-ACK echoed the first SYN: the sample spans the whole wait.
		{"slow answer to the first SYN", Result{Class: ClassOpen, SYNACK: 1210 * ms, RTT: 1210 * ms, SYNRetransmits: 1}, false},
		{"slow answer to the first SYN, seen late", Result{Class: ClassOpen, SYNACK: 1400 * ms, RTT: 1210 * ms, SYNRetransmits: 1}, false},
		{"slower than two retransmissions", Result{Class: ClassOpen, SYNACK: 3500 * ms, RTT: 3500 * ms, SYNRetransmits: 2}, false},
		// It echoed the retransmission, which left 1 s after the first.
		{"answer to the retransmission", Result{Class: ClassOpen, SYNACK: 1030 * ms, RTT: 10 * ms, SYNRetransmits: 1}, true},
		{"answer to the retransmission on a 1.2 s path", Result{Class: ClassOpen, SYNACK: 2220 * ms, RTT: 1210 * ms, SYNRetransmits: 1}, true},
		// Without timestamps Karn's rule leaves no sample.
		{"no RTT sample", Result{Class: ClassOpen, SYNACK: 1210 * ms, SYNRetransmits: 1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := lost(tt.r); got != tt.want {
				t.Errorf("lost(%+v) = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}

// TestLocalCheckFailsTheProbe: a check this host could not make (EMFILE)
// fails a probe whose other checks met its expectation, and stands for
// it, though a timeout came first.
func TestLocalCheckFailsTheProbe(t *testing.T) {
	emfile := Result{Class: ClassLocal, Errno: syscall.EMFILE}
	timeout := Result{Class: ClassTimeout, Errno: syscall.ETIMEDOUT}
	open := Result{Class: ClassOpen}
	s := Summary{Plan: Plan{SYNCount: 4, MinOpenRatio: 0.5}, Results: []Result{open, timeout, open, emfile}}
	s.Summarize()
	if s.Success {
		t.Error("a probe with a check not made succeeded")
	}
	if s.Worst.Class != ClassLocal || s.Worst.Errno != syscall.EMFILE {
		t.Errorf("worst %v errno %d, want the local check", s.Worst.Class, s.Worst.Errno)
	}
}
