package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shutdownOnly are the metrics that have series only once a shutdown has
// begun, which a running system cannot show: queries naming only these may
// return nothing, and their names are checked in the binary instead.
var shutdownOnly = []string{"flex_worker_halt_duration_seconds_bucket", "flex_shutdown_phase_seconds"}

// TestDashboardAndAlertsAgainstPrometheus runs the real Prometheus server
// scraping the real order system on loopback, drives some load, and runs
// every dashboard query and every alert expression through Prometheus's
// HTTP API: each must parse, every metric each one names must have series
// (a renamed metric fails here), and every dashboard query must return
// series. The alert rules must load and evaluate healthy, and stay quiet
// on a healthy system.
func TestDashboardAndAlertsAgainstPrometheus(t *testing.T) {
	promtool(t)
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus not installed (apt-get install prometheus): skipped")
	}
	orders := startOrders(t,
		"ORDERS_OUTBOX_INTERVAL=20ms",
		"ORDERS_EXPIRY_SPEC=@every 1s", // cron runs within the test
		"ORDERS_RECONCILE_SPEC=@every 1s",
		"ORDERS_DB_METRICS_INTERVAL=1s", // counts as fresh as the scrapes
	)
	prom := startPrometheus(t, strings.TrimPrefix(orders.ops, "http://"))
	// Load in two rounds: a counter's first sample is not an increase, so
	// rate() sees the second round, once Prometheus has the series.
	driveLoad(t, orders.api)
	poll(t, "Prometheus to scrape the first round", func() bool {
		return len(prom.query(t, `http_requests_total{route="POST /orders/{id}/cancel", code="200"}`)) > 0 &&
			len(prom.query(t, `orders_kafka_consumer_messages_total`)) > 0
	})
	driveLoad(t, orders.api)

	// Every series the queries need, at least two scrapes after the load.
	for _, q := range []string{
		`sum(rate(http_requests_total{route="POST /orders", code="201"}[1m])) > 0`,
		`sum(rate(orders_outbox_published_total[1m])) > 0`,
		`sum(rate(orders_kafka_consumer_messages_total[1m])) > 0`,
		`sum(rate(orders_cron_runs_total[1m])) > 0`,
		`sum(rate(http_requests_total{route="POST /orders/{id}/cancel", code="200"}[1m])) > 0`,
		`max(orders_by_status{status="shipped"}) > 0`, // counted in the database
		`max(orders_outbox_pending) >= 0`,
	} {
		poll(t, "Prometheus to see "+q, func() bool { return len(prom.query(t, q)) > 0 })
	}

	t.Run("probes", func(t *testing.T) {
		for _, path := range []string{"/readyz", "/livez"} {
			if got := status(orders.ops + path); got != http.StatusOK {
				t.Errorf("GET %s on the operations port = %d, want 200 (the probes of the manifests)", path, got)
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		for _, p := range loadDashboard(t).Panels {
			for _, tg := range p.Targets {
				expr := grafanaVars.Replace(tg.Expr)
				names := metricNames(expr)
				if len(prom.query(t, expr)) == 0 && !allShutdownOnly(names) {
					t.Errorf("panel %q: %s returned no series", p.Title, expr)
				}
				prom.checkNames(t, "panel "+p.Title, names)
			}
		}
	})

	t.Run("alerts", func(t *testing.T) {
		alerts := alertRules(t)
		for name, expr := range alerts {
			prom.query(t, expr) // parses and evaluates
			prom.checkNames(t, "alert "+name, metricNames(expr))
		}
		var rules struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		}
		// Rules are evaluated every second: wait for each to be evaluated once.
		var loaded []string
		poll(t, "every rule to be evaluated", func() bool {
			prom.get(t, "/api/v1/rules", nil, &rules)
			loaded = loaded[:0]
			for _, g := range rules.Groups {
				for _, r := range g.Rules {
					if r.Health == "unknown" {
						return false
					}
					loaded = append(loaded, r.Name)
				}
			}
			return true
		})
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
				if r.State != "inactive" {
					t.Errorf("rule %s is %s on a healthy system", r.Name, r.State)
				}
			}
		}
		for name := range alerts {
			if !slices.Contains(loaded, name) {
				t.Errorf("Prometheus did not load alert %s", name)
			}
		}
	})
}

// grafanaVars replaces the dashboard's Grafana variables with values fit
// for a short test.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__range", "5m")

func allShutdownOnly(names []string) bool {
	for _, n := range names {
		if !slices.Contains(shutdownOnly, n) {
			return false
		}
	}
	return len(names) > 0
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promBraces   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promNumbers  = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:[eE][+-]?\d+|ms|[smhdwy])?\b`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)

// metricNames returns the metric names in a PromQL expression: identifiers
// that are no function, keyword, label matcher, grouping, number or
// duration.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promBraces.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	s = promNumbers.ReplaceAllString(s, " ") // 0.05, 1e3, and offset 5m
	var names []string
	for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(m[0])) {
			continue // a function or aggregation call, or a keyword
		}
		if !slices.Contains(names, m[0]) {
			names = append(names, m[0])
		}
	}
	return names
}

// prometheus is a running Prometheus server.
type prometheus struct{ url string }

// startPrometheus starts the real Prometheus server with a configuration
// that scrapes target every second and evaluates alerts.yml, and stops it
// when the test ends.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: orders
    static_configs:
      - targets: [%q]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	log := new(syncBuffer)
	cmd := exec.Command("prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(waitTimeout):
			cmd.Process.Kill()
			t.Errorf("Prometheus still ran %v after SIGTERM; its log:\n%s", waitTimeout, log)
		}
	})
	p := &prometheus{url: "http://" + addr}
	poll(t, "Prometheus to be ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("Prometheus exited: %v; its log:\n%s", err, log)
		default:
		}
		return status(p.url+"/-/ready") == http.StatusOK
	})
	return p
}

// freeAddr returns a loopback address with a port free a moment ago:
// Prometheus cannot say which port it took for :0.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get calls the HTTP API at path and decodes its data into v, failing the
// test on any error, a query that does not parse among them.
func (p *prometheus) get(t *testing.T, path string, q url.Values, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("GET %s?%s: %s: %s", path, q.Encode(), body.Status, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// query evaluates expr now and returns its series.
func (p *prometheus) query(t *testing.T, expr string) []json.RawMessage {
	t.Helper()
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	return data.Result
}

// checkNames checks that every metric in names has series, or for those
// that only a shutdown makes, that the binary holds its name.
func (p *prometheus) checkNames(t *testing.T, where string, names []string) {
	t.Helper()
	for _, n := range names {
		if slices.Contains(shutdownOnly, n) {
			if !inBinary(t, strings.TrimSuffix(n, "_bucket")) {
				t.Errorf("%s: metric %s is not in the binary", where, n)
			}
			continue
		}
		if len(p.query(t, fmt.Sprintf(`count({__name__=%q})`, n))) == 0 {
			t.Errorf("%s: metric %s has no series: renamed or never exported?", where, n)
		}
	}
}
