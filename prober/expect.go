package prober

import (
	"fmt"
	"slices"
)

// Expect is the outcome a probe wants from its checks.
type Expect uint8

// The expectations a module can set.
const (
	ExpectOpen        Expect = iota // a SYN-ACK
	ExpectClosed                    // refused, timeout, unreachable or prohibited: the port does not answer
	ExpectRefused                   // an RST
	ExpectTimeout                   // no answer: dropped on the way
	ExpectUnreachable               // an ICMP unreachable (or a remote reject)
	ExpectProhibited                // a local prohibit route or policy
)

var expectNames = [...]string{
	ExpectOpen:        "open",
	ExpectClosed:      "closed",
	ExpectRefused:     "refused",
	ExpectTimeout:     "timeout",
	ExpectUnreachable: "unreachable",
	ExpectProhibited:  "prohibited",
}

// ParseExpect reads an expectation by its name in the configuration.
func ParseExpect(s string) (Expect, error) {
	if i := slices.Index(expectNames[:], s); i >= 0 {
		return Expect(i), nil
	}
	return 0, fmt.Errorf("%q is not one of open, closed, refused, timeout, unreachable, prohibited", s)
}

// String returns the name the configuration uses.
func (e Expect) String() string {
	if int(e) < len(expectNames) {
		return expectNames[e]
	}
	return fmt.Sprintf("Expect(%d)", e)
}

// Met reports whether a check that ended in class c is what e wants.
// A check the prober could not make (local), a name that did not
// resolve, or anything else (other: an unusable address, a caller that
// gave up) says nothing about the port, so it meets no expectation.
func (e Expect) Met(c Class) bool {
	switch e {
	case ExpectOpen:
		return c == ClassOpen
	case ExpectClosed:
		return c != ClassOpen && c != ClassLocal && c != ClassResolve && c != ClassOther
	case ExpectRefused:
		return c == ClassRefused
	case ExpectTimeout:
		return c == ClassTimeout
	case ExpectUnreachable:
		return c == ClassUnreachable
	case ExpectProhibited:
		return c == ClassProhibited
	}
	return false
}
