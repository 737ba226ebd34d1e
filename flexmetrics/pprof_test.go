package flexmetrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexmetrics"
)

// Whoever reaches the operations port can take one CPU profile and one
// trace at a time: a second, asked for while the first is being taken, is
// refused with 429 and a Retry-After of the max duration, whatever
// duration it asks for. Once the first ends, the next is taken.
func TestPprofOneAtATime(t *testing.T) {
	for _, endpoint := range []string{"profile", "trace"} {
		t.Run(endpoint, func(t *testing.T) {
			_, base := start(t, flexmetrics.WithPprofMaxDuration(20*time.Second))
			url := base + "/debug/pprof/" + endpoint

			// The first asks for the max; the status arrives once it is
			// being taken.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := profileRequest(t, ctx, url+"?seconds=20")
			if first.StatusCode != http.StatusOK {
				t.Fatalf("first GET %s = %d, want 200", endpoint, first.StatusCode)
			}

			for _, seconds := range []string{"1", "20"} {
				resp := profileRequest(t, context.Background(), url+"?seconds="+seconds)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "one at a time, each at most 20s (FLEX_METRICS_PPROF_MAX_DURATION)") {
					t.Errorf("second GET %s?seconds=%s while the first runs = %d %q, want 429 saying one at a time", endpoint, seconds, resp.StatusCode, body)
				}
				if got := resp.Header.Get("Retry-After"); got != "20" {
					t.Errorf("Retry-After = %q, want 20", got)
				}
			}

			// The first ends when its client goes away; then the profiler
			// is free again.
			cancel()
			io.Copy(io.Discard, first.Body)
			first.Body.Close()
			deadline := time.Now().Add(wait)
			for {
				resp := profileRequest(t, context.Background(), url+"?seconds=0.01")
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
					t.Fatalf("GET %s after the first ended = %d, want 200", endpoint, resp.StatusCode)
				}
			}
		})
	}
}

// profileRequest sends GET url under ctx and returns the response, whose
// status arrives before the body.
func profileRequest(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}
