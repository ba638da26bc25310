package netns

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Run runs a command (args[0] looked up in PATH) inside the namespace. On
// failure the error is one line: the namespace, the command, the exit
// status and the command's stderr.
func (ns *NS) Run(args ...string) error {
	_, err := ns.command(nil, args)
	return err
}

// Output is Run that also returns the command's stdout.
func (ns *NS) Output(args ...string) (string, error) {
	return ns.command(nil, args)
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace.
func (ns *NS) Nft(ruleset string) error {
	_, err := ns.command(strings.NewReader(ruleset), []string{"nft", "-f", "-"})
	return err
}

// AddAddr adds the address cidr ("198.18.1.1/32", "fd00:198:18::1/64") to
// device dev, and returns once the kernel delivers packets sent to it.
func (ns *NS) AddAddr(dev, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("netns %s: address for %s: %w", ns.name, dev, err)
	}
	if p.Addr().Is4() {
		return ns.Run("ip", "addr", "add", p.String(), "dev", dev)
	}
	// nodad: duplicate address detection would keep the address
	// tentative, unusable, for a second or more.
	if err := ns.Run("ip", "addr", "add", p.String(), "dev", dev, "nodad"); err != nil {
		return err
	}
	return ns.waitLocalRoute(p.Addr())
}

// localRouteWait bounds waitLocalRoute; the kernel usually needs well
// under a millisecond.
const localRouteWait = 5 * time.Second

// waitLocalRoute waits for the kernel's "local" route to an IPv6 address
// it has just been given. The kernel adds that route from a workqueue
// after `ip addr add` returns, even with nodad, and until then drops the
// packets sent to the address (Ip6InAddrErrors) while already using it as
// a source: a SYN would leave and its answer be lost.
func (ns *NS) waitLocalRoute(addr netip.Addr) error {
	deadline := time.Now().Add(localRouteWait)
	for {
		out, err := ns.Output("ip", "-6", "route", "show", "table", "local", addr.String())
		if err != nil {
			return err
		}
		if strings.HasPrefix(out, "local ") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns %s: no local route to %v after %v", ns.name, addr, localRouteWait)
		}
	}
}

// AddRoute adds a route given as the words after `ip route add`, such as
// "unreachable", "198.18.5.0/24" or "198.18.9.0/24", "dev", "tun0". ip
// infers the family from the prefix. A single string is split on spaces,
// so AddRoute("prohibit 198.18.6.0/24") works too.
func (ns *NS) AddRoute(spec ...string) error {
	if len(spec) == 1 {
		spec = strings.Fields(spec[0])
	}
	return ns.Run(append([]string{"ip", "route", "add"}, spec...)...)
}

// command runs args inside the namespace with stdin and returns stdout.
func (ns *NS) command(stdin io.Reader, args []string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("netns %s: empty command", ns.name)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	// The child is forked from Do's thread, so it starts in the namespace.
	if err := ns.Do(cmd.Run); err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return stdout.String(), fmt.Errorf("netns %s: %s: %w%s", ns.name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
