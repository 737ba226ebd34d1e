package flexmetrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// readier is a health handler that can say whether the service is ready
// without an HTTP request, as *flex.Health does.
type readier interface {
	http.Handler
	Ready(ctx context.Context) bool
}

// registerReady registers flex_ready on reg for a health handler that is a
// readier: 1 when /readyz would answer 200, evaluated at each scrape, so
// that a readiness that flaps between scrapes of the kubelet shows in
// Prometheus too. Readiness checks bound themselves (flex.Check.Timeout).
func registerReady(reg prometheus.Registerer, h http.Handler) error {
	r, ok := h.(readier)
	if !ok {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flex_ready",
		Help: "Whether the service is ready (1) or not (0), as /readyz would answer at the scrape.",
	}, func() float64 {
		if r.Ready(context.Background()) {
			return 1
		}
		return 0
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("flexmetrics: flex_ready: %w", err)
	}
	return nil
}
