package flexmetrics

import "errors"

// ErrNilRegisterer is returned by [NewMiddleware] and [NewObserver] when
// they are given a nil prometheus.Registerer. flexmetrics never falls back
// to the global prometheus.DefaultRegisterer on its own.
var ErrNilRegisterer = errors.New("flexmetrics: nil prometheus.Registerer")
