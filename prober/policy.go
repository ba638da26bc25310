package prober

import (
	"errors"
	"net/netip"
)

// Policy decides which targets a check may send packets to. Check asks it
// twice: with the host name before resolving, so that a denied name costs
// no DNS query, and with the address chosen, before the SYN, so that a
// name resolving into a denied range is refused too.
type Policy interface {
	PermitName(host string, port uint16) error
	PermitTarget(host string, addr netip.AddrPort) error
}

// ErrDenied marks the result of a check that Options.Policy refused: no
// packet was sent. The policy's own error is wrapped beside it.
var ErrDenied = errors.New("target denied by policy")

type deniedError struct{ err error }

func (e deniedError) Error() string   { return e.err.Error() }
func (e deniedError) Unwrap() []error { return []error{ErrDenied, e.err} }

// denied is the result of a refused check: class local, since the prober
// chose not to try.
func denied(err error) Result {
	return Result{Class: ClassLocal, Err: deniedError{err}, Mode: mode}
}
