//go:build !linux

package prober

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Elsewhere there is no portable way to stop after the SYN-ACK, so the
// check is a full connect and close, and Result.Mode says so.
const mode = ModeConnect

type connectEngine struct{}

var _ engine = connectEngine{}

func newEngine() (engine, error) { return connectEngine{}, nil }

func (connectEngine) check(ctx context.Context, addr netip.AddrPort, opts Options) Result {
	d := net.Dialer{}
	if opts.SourceIPAddress.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: opts.SourceIPAddress.AsSlice(), Zone: opts.SourceIPAddress.Zone()}
	}
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			r := contextFailure(ctx.Err())
			r.Addr = addr
			return r
		}
		r := connectFailure(err)
		r.Addr = addr
		return r
	}
	conn.Close()
	// The connection completed: the target's application saw it.
	return Result{Class: ClassOpen, Mode: mode, Addr: addr, SYNACK: took, ACKSent: true}
}

func (connectEngine) close() error { return nil }
