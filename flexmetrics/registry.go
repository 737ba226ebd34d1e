package flexmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a new, private Prometheus registry holding the Go
// runtime collector (go_* series) and the process collector (process_*
// series), which is what [New] serves when no [WithRegistry] is given.
//
// flexmetrics uses a private registry rather than
// prometheus.DefaultRegisterer so that two servers built from defaults share
// nothing (no global mutable state, no "duplicate metrics collector
// registration" panics between tests or between two services in one
// process). Register the application's own collectors on it, or pass it to
// [NewMiddleware] and [NewObserver], and they are served with the rest. A
// program that prefers the global registry can pass
// prometheus.DefaultRegisterer.(*prometheus.Registry) to [WithRegistry],
// which already holds both collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// register registers every collector on reg, or none: on an error it
// unregisters those it had registered, so that a failed constructor leaves
// reg as it was.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
