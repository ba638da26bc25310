package collector

import (
	"fmt"
	"net/http"

	"github.com/go-kit/log/level"
)

// reasonTargetDenied counts probes refused by a module's allowed_targets
// or denied_targets, in probes_rejected_total.
const reasonTargetDenied = "target_denied"

// refuse answers a probe that a module's target lists refused: HTTP 403
// with a one-line reason, counted in probes_rejected_total.
func (e *Exporter) refuse(w http.ResponseWriter, req probeRequest, err error) {
	e.metrics.rejected.WithLabelValues(reasonTargetDenied).Inc()
	level.Debug(e.logger).Log("msg", "Target denied", "module", req.Module, "target", req.Target, "err", err)
	http.Error(w, fmt.Sprintf("target %q refused by module %q: %v", req.Target, req.Module, err), http.StatusForbidden)
}
