package prober

import (
	"context"
	"errors"
	"syscall"
)

// classifyConnect maps the errno of a failed connect, or of SO_ERROR after
// one, to a class. Errors from socket setup are always ClassLocal and do
// not come here: EPERM from SO_MARK is the prober's lack of privilege, not
// a policy on the path to the target.
func classifyConnect(errno syscall.Errno) Class {
	switch errno {
	case syscall.ECONNREFUSED:
		return ClassRefused
	case syscall.ETIMEDOUT:
		return ClassTimeout
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN:
		// Linux reports an ICMP "administratively prohibited" as
		// EHOSTUNREACH too on IPv4, so a remote firewall's reject lands
		// here; IPv6's ICMPv6 admin-prohibited gives EACCES (prohibited).
		return ClassUnreachable
	case syscall.EACCES, syscall.EPERM:
		return ClassProhibited
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EADDRNOTAVAIL, syscall.EADDRINUSE, syscall.EAGAIN, syscall.EAFNOSUPPORT:
		return ClassLocal
	}
	return ClassOther
}

// errnoOf finds the errno inside err, or 0.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

func failure(class Class, err error) Result {
	return Result{Class: class, Errno: errnoOf(err), Err: err, Mode: mode}
}

// connectFailure classifies err by its errno.
func connectFailure(err error) Result {
	return failure(classifyConnect(errnoOf(err)), err)
}

// contextFailure is the result of a check whose context ended first: a
// deadline is a timeout; a cancellation (the scraper went away) is not a
// statement about the target, so it is reported as other/ECANCELED.
func contextFailure(err error) Result {
	if errors.Is(err, context.DeadlineExceeded) {
		return Result{Class: ClassTimeout, Errno: syscall.ETIMEDOUT, Err: err, Mode: mode}
	}
	return Result{Class: ClassOther, Errno: syscall.ECANCELED, Err: err, Mode: mode}
}
