//go:build !linux

package prober

import (
	"context"
	"errors"
	"fmt"
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

// begin has no way to wait without a goroutine here: it dials at once
// and always returns the result itself.
func (connectEngine) begin(ctx context.Context, addr netip.AddrPort, opts Options, _ func(Result)) (Result, bool) {
	if err := linuxOnly(opts); err != nil {
		return failure(ClassLocal, err), true
	}
	d := net.Dialer{}
	if opts.SourceIPAddress.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: opts.SourceIPAddress.AsSlice(), Zone: opts.SourceIPAddress.Zone()}
	}
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return contextFailure(ctx.Err()), true
		}
		return connectFailure(err), true
	}
	conn.Close()
	// The connection completed: the target's application saw it.
	return Result{Class: ClassOpen, Mode: mode, SYNACK: took, ACKs: 1}, true
}

// check is begin, which always has the result.
func (e connectEngine) check(ctx context.Context, deadline time.Time, addr netip.AddrPort, opts Options) Result {
	if r, refused := refuse(ctx, addr); refused {
		return r
	}
	ctx, cancel := boundBy(ctx, deadline)
	defer cancel()
	r, _ := e.begin(ctx, addr, opts, nil)
	r.Addr = addr
	return r
}

func (connectEngine) close() error { return nil }

// exactACKs: a full connect sends exactly one ACK per check, counted.
func (connectEngine) exactACKs() bool { return true }

// linuxOnly refuses options this fallback cannot apply: a probe that
// silently ignored its mark or interface would measure another path.
func linuxOnly(opts Options) error {
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"syn_retries", opts.SYNRetries != 0},
		{"mark", opts.Mark != 0},
		{"interface", opts.Interface != ""},
		{"tos", opts.TOS != 0},
	} {
		if o.set {
			return fmt.Errorf("%s is only supported on Linux: %w", o.name, errors.ErrUnsupported)
		}
	}
	return nil
}
