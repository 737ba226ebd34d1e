package flexmetrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexmetrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// wait bounds every wait in these tests; a working server answers far sooner.
const wait = 10 * time.Second

// quiet discards the logs of the servers under test.
var quiet = slog.New(slog.DiscardHandler)

// start builds a Server listening on a free loopback port, runs it until
// the test ends and returns it once ready, with its base URL.
func start(t *testing.T, opts ...flexmetrics.Option) (*flexmetrics.Server, string) {
	t.Helper()
	opts = append([]flexmetrics.Option{flexmetrics.WithAddr("127.0.0.1:0"), flexmetrics.WithLogger(quiet)}, opts...)
	s, err := flexmetrics.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, run(t, s)
}

// run runs s until the test ends and returns its base URL once ready.
func run(t *testing.T, s *flexmetrics.Server) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := s.Halt(ctx); err != nil {
			t.Errorf("Halt: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before ready", err)
	case <-time.After(wait):
		t.Fatalf("not ready after %v", wait)
	}
	return "http://" + s.Addr()
}

// get sends a GET to url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches url over HTTP and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200: %s", url, code, body)
	}
	return parse(t, body), body
}

func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return mfs
}

// sample returns the value of the series of family name whose labels
// include want: a counter's or gauge's value, a histogram's sample count.
// ok is false when there is no such series.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// mustSample is sample that fails the test when the series is missing.
func mustSample(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := sample(mfs, name, labels)
	if !ok {
		t.Fatalf("no series %s%v in the scrape; families: %v", name, labels, names(mfs))
	}
	return v
}

func names(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range mfs {
		out = append(out, n)
	}
	return out
}
