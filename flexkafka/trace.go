package flexkafka

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Propagator carries trace context across Kafka in message headers, so that
// a trace begun by a producer goes on in the consumer's handler. Give one
// with [WithPropagator]. [W3C] is a dependency-free implementation; an
// OpenTelemetry propagator fits in a few lines (see the package example).
// Implementations must be safe for concurrent use.
type Propagator interface {
	// Inject returns headers with the trace context of ctx added, replacing
	// any headers of the same names. It must not modify the headers it is
	// given in place.
	Inject(ctx context.Context, headers []kafka.Header) []kafka.Header

	// Extract returns ctx carrying the trace context found in headers, or
	// ctx unchanged when there is none.
	Extract(ctx context.Context, headers []kafka.Header) context.Context
}

// W3C headers, as defined by the W3C Trace Context recommendation.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// TraceContext is a W3C trace context in its header form.
type TraceContext struct {
	Traceparent string // "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"
	Tracestate  string // optional vendor data
}

type traceKey struct{}

// ContextWithTrace returns a copy of ctx carrying tc, for [W3C] to inject.
func ContextWithTrace(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

// TraceFromContext returns the trace context carried by ctx, as stored by
// [ContextWithTrace] or extracted by [W3C].
func TraceFromContext(ctx context.Context) (TraceContext, bool) {
	tc, ok := ctx.Value(traceKey{}).(TraceContext)
	return tc, ok
}

// W3C is a [Propagator] of the W3C traceparent and tracestate headers that
// stores them in the context as a [TraceContext], without depending on a
// tracing library. Extract ignores a traceparent that is not well formed.
type W3C struct{}

// Inject adds the traceparent and tracestate of ctx to headers.
func (W3C) Inject(ctx context.Context, headers []kafka.Header) []kafka.Header {
	tc, ok := TraceFromContext(ctx)
	if !ok || !validTraceparent(tc.Traceparent) {
		return headers
	}
	out := make([]kafka.Header, 0, len(headers)+2)
	for _, h := range headers {
		if h.Key != HeaderTraceparent && h.Key != HeaderTracestate {
			out = append(out, h)
		}
	}
	out = append(out, kafka.Header{Key: HeaderTraceparent, Value: []byte(tc.Traceparent)})
	if tc.Tracestate != "" {
		out = append(out, kafka.Header{Key: HeaderTracestate, Value: []byte(tc.Tracestate)})
	}
	return out
}

// Extract returns ctx carrying the trace context of headers.
func (W3C) Extract(ctx context.Context, headers []kafka.Header) context.Context {
	var tc TraceContext
	for _, h := range headers {
		switch h.Key {
		case HeaderTraceparent:
			tc.Traceparent = string(h.Value)
		case HeaderTracestate:
			tc.Tracestate = string(h.Value)
		}
	}
	if !validTraceparent(tc.Traceparent) {
		return ctx
	}
	return ContextWithTrace(ctx, tc)
}

// validTraceparent checks the version 00 layout: 2-32-16-2 lowercase hex
// digits, with non-zero trace and span ids. Later versions may append
// fields after the flags.
func validTraceparent(s string) bool {
	if len(s) < 55 || (len(s) > 55 && s[55] != '-') || s[:2] == "ff" {
		return false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if s[:2] == "00" && len(s) != 55 {
		return false
	}
	for _, span := range [][2]int{{0, 2}, {3, 35}, {36, 52}, {53, 55}} {
		if !isHex(s[span[0]:span[1]]) {
			return false
		}
	}
	return !allZero(s[3:35]) && !allZero(s[36:52])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
