package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-kit/log/level"

	"github.com/seed-5ff58b3a/synack_exporter/config"
	"github.com/seed-5ff58b3a/synack_exporter/prober"
)

// reasonTargetDenied counts probes refused by a module's allowed_targets
// or denied_targets, in probes_rejected_total.
const reasonTargetDenied = "target_denied"

// check makes one check of target with module's settings. A module with
// target lists passes them to the prober as its Policy; a refused target
// returns the policy's error (a *config.TargetDeniedError) and no packet
// is sent.
func (e *Exporter) check(ctx context.Context, target string, module config.Module) (prober.Result, error) {
	r := e.opts.Checker.Check(ctx, target, module.ProbeOptions())
	if errors.Is(r.Err, prober.ErrDenied) {
		return prober.Result{}, r.Err
	}
	return r, nil
}

// refuse answers a probe that a module's target lists refused: HTTP 403
// with a one-line reason, counted in probes_rejected_total.
func (e *Exporter) refuse(w http.ResponseWriter, req probeRequest, err error) {
	e.metrics.rejected.WithLabelValues(reasonTargetDenied).Inc()
	level.Debug(e.logger).Log("msg", "Target denied", "module", req.Module, "target", req.Target, "err", err)
	http.Error(w, fmt.Sprintf("target %q refused by module %q: %v", req.Target, req.Module, err), http.StatusForbidden)
}
