package collector

// How the landing page shows one probe: the same outcome as its /probe
// metrics (probe_success, the median SYN-ACK, the errno of
// probe_tcp_errno, the counts of probe_tcp_syn_results), in words.

import (
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// landingRow is one probe as the landing page shows it.
type landingRow struct {
	ID       uint64
	Start    time.Time
	Module   string
	Target   string
	Budget   time.Duration
	Duration time.Duration
	// Up is probe_success.
	Up bool
	// Result is the probe's outcome in words (probeRecord.Outcome).
	Result string
	// Expect is the module's expect when it is not open, else "".
	Expect string
	// Checks is "7/10 open" for a probe of several checks, else "".
	Checks string
	// Loss is the loss ratio in percent ("30%") for a probe of several
	// checks, else "".
	Loss      string
	Addresses []addressView
	// SYNACK is probe_tcp_synack_seconds (the median of several); 0 when
	// no check found the port open.
	SYNACK time.Duration
	// Errno is probe_tcp_errno by name, "" when 0.
	Errno string
}

// addressView is how the checks of one address went (addresses: all).
type addressView struct {
	Addr         string
	Open, Checks int
	Up           bool
}

// rowOf reads rec for the landing page, through the readers the metrics
// use (outcome.go).
func rowOf(rec *probeRecord) landingRow {
	v := landingRow{
		ID: rec.ID, Start: rec.Start, Module: rec.Module, Target: rec.Target,
		Budget: rec.Timeout, Duration: rec.Duration, Up: rec.Succeeded(),
	}
	if e := rec.Config.ExpectOutcome(); e != prober.ExpectOpen {
		v.Expect = e.String()
	}
	v.Result, v.SYNACK = rec.Outcome(), rec.SYNACK()
	s := rec.Summary
	if s == nil {
		v.Errno = errnoName(rec.Result.Errno)
		return v
	}
	if s.Checks > 0 {
		v.Checks = fmt.Sprintf("%d/%d open", s.Classes[prober.ClassOpen], s.Checks)
		v.Loss = fmt.Sprintf("%g%%", math.Round(1000*s.LossRatio())/10)
	}
	v.Errno = errnoName(s.Worst.Errno)
	if s.Plan.AllAddresses {
		for _, a := range s.Addresses {
			v.Addresses = append(v.Addresses, addressView{Addr: a.Addr.String(), Open: a.Open, Checks: a.Checks, Up: a.Success})
		}
	}
	return v
}

// errnoNames are the errnos a check ends with (see the classes in
// prober), by the names an SRE searches for.
var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED:  "ECONNREFUSED",
	syscall.ETIMEDOUT:     "ETIMEDOUT",
	syscall.EHOSTUNREACH:  "EHOSTUNREACH",
	syscall.ENETUNREACH:   "ENETUNREACH",
	syscall.EACCES:        "EACCES",
	syscall.EPERM:         "EPERM",
	syscall.EMFILE:        "EMFILE",
	syscall.ENFILE:        "ENFILE",
	syscall.ENOBUFS:       "ENOBUFS",
	syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL",
	syscall.EAGAIN:        "EAGAIN",
	syscall.EINVAL:        "EINVAL",
	syscall.ECONNRESET:    "ECONNRESET",
}

// errnoName returns "ECONNREFUSED (111)", the number alone for an errno
// without a name here, or "" for 0.
func errnoName(e syscall.Errno) string {
	if e == 0 {
		return ""
	}
	if name, ok := errnoNames[e]; ok {
		return fmt.Sprintf("%s (%d)", name, int(e))
	}
	return fmt.Sprint(int(e))
}
