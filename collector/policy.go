package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// reasonTargetDenied counts probes refused by a module's allowed_targets
// or denied_targets, in probes_rejected_total.
const reasonTargetDenied = "target_denied"

// addrChecker resolves and checks in two steps, so that the address can
// be held against a module's target lists before any packet leaves.
// *prober.Checker is one.
type addrChecker interface {
	Resolve(ctx context.Context, host string, opts prober.Options) (netip.Addr, error)
	CheckAddr(ctx context.Context, addr netip.AddrPort, opts prober.Options) prober.Result
}

var _ addrChecker = (*prober.Checker)(nil)

// errNoPolicyChecker refuses, rather than probes unchecked, a target of a
// restricted module when the Checker cannot resolve on its own.
var errNoPolicyChecker = errors.New("the module restricts its targets and this checker cannot apply the restriction")

// check makes one check of target with module's settings. A module with
// target lists gets the target resolved first and the address chosen held
// against them: a refused target returns an error (a
// *config.TargetDeniedError) and no packet is sent. A name's lookup still
// counts as the probe's DNS time either way.
func (e *Exporter) check(ctx context.Context, target string, module config.Module) (prober.Result, error) {
	opts := module.ProbeOptions()
	if !module.RestrictsTargets() {
		return e.opts.Checker.Check(ctx, target, opts), nil
	}
	c, ok := e.opts.Checker.(addrChecker)
	if !ok {
		return prober.Result{}, errNoPolicyChecker
	}
	host, port, err := prober.ParseTarget(target)
	if err != nil {
		return prober.Result{}, err // parseProbeRequest has checked it
	}
	if err := module.PermitName(host, port); err != nil {
		return prober.Result{}, err
	}
	start := time.Now()
	ip, err := c.Resolve(ctx, host, opts)
	dns := time.Since(start)
	if err != nil {
		return prober.Result{Class: prober.ClassResolve, Errno: errnoOf(err), Err: err, DNS: dns}, nil
	}
	addr := netip.AddrPortFrom(ip, port)
	if err := module.PermitTarget(host, addr); err != nil {
		return prober.Result{}, err
	}
	r := c.CheckAddr(ctx, addr, opts)
	r.DNS = dns
	return r, nil
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	errors.As(err, &errno)
	return errno
}

// refuse answers a probe that a module's target lists refused: HTTP 403
// with a one-line reason, counted in probes_rejected_total.
func (e *Exporter) refuse(w http.ResponseWriter, req probeRequest, err error) {
	e.metrics.rejected.WithLabelValues(reasonTargetDenied).Inc()
	level.Debug(e.logger).Log("msg", "Target denied", "module", req.Module, "target", req.Target, "err", err)
	http.Error(w, fmt.Sprintf("target %q refused by module %q: %v", req.Target, req.Module, err), http.StatusForbidden)
}
