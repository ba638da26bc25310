package prober

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/internal/fakepeer"
	"github.com/seed-5ff58b3a/synack_exporter/internal/netns"
	"github.com/seed-5ff58b3a/synack_exporter/internal/testenv"
)

// TestLocalFirewall checks what a rule in this host's own output hook
// makes of a check, which README.md and docs/metrics.md state: a drop is
// a timeout with nothing on the wire (the kernel ignores the error of
// the first SYN's send and re-sends it as if it were lost); a reject
// answers from this host itself, so its class is the one of the ICMP
// error it makes. The fake peer behind the rule would answer port 80
// with a SYN-ACK; it ignores port 81, a SYN lost on the path.
func TestLocalFirewall(t *testing.T) {
	testenv.RequireNft(t)
	ms := time.Millisecond
	tests := []struct {
		name   string
		rule   string // for tcp dport 80 in the output hook; "" for none
		port   uint16
		ipv6   bool
		budget time.Duration
		class  Class
		errno  syscall.Errno
	}{
		{"v4 drop", "drop", 80, false, 1500 * ms, ClassTimeout, syscall.ETIMEDOUT},
		{"v6 drop", "drop", 80, true, 1500 * ms, ClassTimeout, syscall.ETIMEDOUT},
		{"v4 lost on the path", "", 81, false, 1500 * ms, ClassTimeout, syscall.ETIMEDOUT},
		// ICMP code 13 on IPv4 is EHOSTUNREACH, at once.
		{"v4 reject admin-prohibited", "reject with icmpx admin-prohibited", 80, false, 2500 * ms, ClassUnreachable, syscall.EHOSTUNREACH},
		// ICMPv6 code 1 is EACCES. The first error comes while connect()
		// holds the socket and is kept as a soft error: it ends the check
		// at the first retransmission (1 s), or at the deadline if sooner.
		{"v6 reject admin-prohibited", "reject with icmpx admin-prohibited", 80, true, 2500 * ms, ClassProhibited, syscall.EACCES},
		{"v6 reject admin-prohibited, budget under 1 s", "reject with icmpx admin-prohibited", 80, true, 500 * ms, ClassProhibited, syscall.EACCES},
		// nft's plain reject is port-unreachable: a refusal, as a closed port.
		{"v4 reject", "reject", 80, false, 2500 * ms, ClassRefused, syscall.ECONNREFUSED},
		{"v6 reject", "reject", 80, true, 2500 * ms, ClassRefused, syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A namespace each: the counters below are the namespace's.
			ns := netns.New(t)
			peer := fakepeer.Start(t, ns, fakepeer.Config{OpenPorts: []uint16{80}})
			if tt.rule != "" {
				if err := ns.Nft(fmt.Sprintf(outputRule, tt.rule)); err != nil {
					t.Fatal(err)
				}
			}
			addr := peer.Addr()
			if tt.ipv6 {
				if addr = peer.Addr6(); !addr.IsValid() {
					t.Skip("this kernel has no IPv6")
				}
			}
			failedBefore := nstatCounter(t, ns, "TcpExtTCPRetransFail")
			start := time.Now()
			r := checkIn(t, ns, newChecker(t), netip.AddrPortFrom(addr, tt.port), tt.budget)
			t.Logf("%v/%d (%v) after %v", r.Class, r.Errno, r.Err, time.Since(start).Round(ms))
			if r.Class != tt.class || r.Errno != tt.errno {
				t.Fatalf("got %v/%v (%v), want %v/%v\n%s", r.Class, r.Errno, r.Err, tt.class, tt.errno, peer.Transcript())
			}
			syns := 0
			for _, p := range peer.SentTCP() {
				if p.IsSYN() {
					syns++
				}
			}
			if (syns > 0) != (tt.rule == "") {
				t.Errorf("%d SYNs on the wire, rule %q\n%s", syns, tt.rule, peer.Transcript())
			}
			// A SYN this host failed to send shows, from the first
			// retransmission on, only in this counter: the check
			// itself looks like a loss on the path.
			if tt.class == ClassTimeout {
				failed := nstatCounter(t, ns, "TcpExtTCPRetransFail") - failedBefore
				if (failed > 0) != (tt.rule != "") {
					t.Errorf("TcpExtTCPRetransFail grew by %d, rule %q", failed, tt.rule)
				}
			}
		})
	}
}

// outputRule is an nft ruleset with one rule, for tcp dport 80, in the
// output hook of this host (here: the namespace).
const outputRule = `
table inet synack {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport 80 %s
	}
}
`

// nstatCounter reads one of the kernel's SNMP counters in ns.
func nstatCounter(t *testing.T, ns *netns.NS, name string) int {
	t.Helper()
	out, err := ns.Output("nstat", "-az", name)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("nstat: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("nstat printed no %s:\n%s", name, out)
	return 0
}
