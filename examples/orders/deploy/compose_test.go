package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose.yaml as docker compose does (the compose
// specification's schema, interpolation with an empty environment,
// normalisation), so that an unknown key or a bad value is an error.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// TestCompose checks compose.yaml's order system with the invariants of
// the Kubernetes manifests, and that the services start in order and
// Prometheus and Grafana find what they need.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no service %q", name)
		}
		return s
	}
	orders := svc("orders")
	env := map[string]string{}
	for k, v := range orders.Environment {
		if v == nil {
			t.Errorf("orders: %s has no value", k)
			continue
		}
		env[k] = *v
	}

	t.Run("replicas", func(t *testing.T) {
		if orders.Deploy == nil || orders.Deploy.Replicas == nil || *orders.Deploy.Replicas != 2 {
			t.Errorf("orders: want deploy.replicas 2")
		}
	})

	t.Run("grace period", func(t *testing.T) {
		delay := duration(t, "FLEX_SHUTDOWN_DELAY", env["FLEX_SHUTDOWN_DELAY"])
		timeout := duration(t, "FLEX_SHUTDOWN_TIMEOUT", env["FLEX_SHUTDOWN_TIMEOUT"])
		if orders.StopGracePeriod == nil {
			t.Fatal("orders: no stop_grace_period (docker's default is 10s)")
		}
		if got, want := time.Duration(*orders.StopGracePeriod), delay+timeout+5*time.Second; got < want {
			t.Errorf("orders: stop_grace_period %v < FLEX_SHUTDOWN_DELAY %v + FLEX_SHUTDOWN_TIMEOUT %v + 5s", got, delay, timeout)
		}
	})

	t.Run("non-root", func(t *testing.T) {
		if user, _, _ := strings.Cut(orders.User, ":"); user == "" || user == "0" || user == "root" {
			t.Errorf("orders: user %q, want a non-root user", orders.User)
		}
	})

	t.Run("env read by the binary", func(t *testing.T) {
		for name := range env {
			if !inBinary(t, name) {
				t.Errorf("orders: %s is set but the binary never reads it", name)
			}
		}
		for _, name := range []string{"DATABASE_URL", "FLEX_KAFKA_BROKERS"} {
			if env[name] == "" {
				t.Errorf("orders: %s is not set: the system would use SQLite or its in-process broker", name)
			}
		}
	})

	t.Run("start order", func(t *testing.T) {
		for _, dep := range []struct{ service, on, condition string }{
			{"orders", "postgres", types.ServiceConditionHealthy},
			{"orders", "kafka", types.ServiceConditionHealthy},
			{"prometheus", "orders", types.ServiceConditionStarted},
			{"grafana", "prometheus", types.ServiceConditionHealthy},
		} {
			d, ok := svc(dep.service).DependsOn[dep.on]
			if !ok || d.Condition != dep.condition {
				t.Errorf("%s: depends_on %s %+v, want condition %s", dep.service, dep.on, d, dep.condition)
			}
			if dep.condition == types.ServiceConditionHealthy && svc(dep.on).HealthCheck == nil {
				t.Errorf("%s: %s waits for it to be healthy, but it has no healthcheck", dep.on, dep.service)
			}
		}
	})

	t.Run("image build", func(t *testing.T) {
		b := orders.Build
		if b == nil {
			t.Fatal("orders: no build")
		}
		root, _ := filepath.Abs(repoRoot)
		if filepath.Clean(b.Context) != root {
			t.Errorf("orders: build context %s, want the repository's root %s (see Dockerfile)", b.Context, root)
		}
		here, _ := filepath.Abs("Dockerfile")
		if got := filepath.Join(b.Context, b.Dockerfile); got != here {
			t.Errorf("orders: dockerfile %s, want %s", got, here)
		}
	})

	t.Run("prometheus scrapes the replicas with the rules", func(t *testing.T) {
		dir := mountedAt(t, svc("prometheus"), "/etc/prometheus")
		for _, f := range []string{"prometheus.yml", "alerts.yml"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("prometheus: %v", err)
			}
		}
		var cfg struct {
			Global        map[string]any `json:"global"`
			RuleFiles     []string       `json:"rule_files"`
			ScrapeConfigs []struct {
				JobName     string `json:"job_name"`
				MetricsPath string `json:"metrics_path"`
				DNSSD       []struct {
					Names           []string `json:"names"`
					Type            string   `json:"type"`
					Port            int      `json:"port"`
					RefreshInterval string   `json:"refresh_interval"`
				} `json:"dns_sd_configs"`
			} `json:"scrape_configs"`
		}
		readYAML(t, filepath.Join(dir, "prometheus.yml"), &cfg)
		if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
			t.Errorf("prometheus.yml: rule_files %v lacks alerts.yml", cfg.RuleFiles)
		}
		opsPort := addrPort(t, "FLEX_METRICS_ADDR", env["FLEX_METRICS_ADDR"])
		found := false
		for _, sc := range cfg.ScrapeConfigs {
			for _, sd := range sc.DNSSD {
				if sc.JobName == "orders" && slices.Contains(sd.Names, "orders") && sd.Port == opsPort {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("prometheus.yml: no job orders scraping the replicas (DNS name orders) on port %d", opsPort)
		}
	})

	t.Run("grafana is provisioned", func(t *testing.T) {
		g := svc("grafana")
		prov := mountedAt(t, g, "/etc/grafana/provisioning")
		dashboards := mountedAt(t, g, "/var/lib/grafana/dashboards")
		var providers struct {
			APIVersion int `json:"apiVersion"`
			Providers  []struct {
				Name           string            `json:"name"`
				Type           string            `json:"type"`
				AllowUIUpdates bool              `json:"allowUiUpdates"`
				Options        map[string]string `json:"options"`
			} `json:"providers"`
		}
		readYAML(t, filepath.Join(prov, "dashboards", "orders.yml"), &providers)
		if len(providers.Providers) != 1 || providers.Providers[0].Options["path"] != "/var/lib/grafana/dashboards" {
			t.Errorf("dashboard provider %+v does not load the mounted dashboards", providers.Providers)
		}
		if _, err := os.Stat(filepath.Join(dashboards, "orders.json")); err != nil {
			t.Error(err)
		}
		var sources struct {
			APIVersion  int `json:"apiVersion"`
			Datasources []struct {
				Name      string `json:"name"`
				UID       string `json:"uid"`
				Type      string `json:"type"`
				Access    string `json:"access"`
				URL       string `json:"url"`
				IsDefault bool   `json:"isDefault"`
			} `json:"datasources"`
		}
		readYAML(t, filepath.Join(prov, "datasources", "prometheus.yml"), &sources)
		if len(sources.Datasources) != 1 || sources.Datasources[0].UID != dashboardDatasource ||
			sources.Datasources[0].URL != "http://prometheus:9090" {
			t.Errorf("data sources %+v: want Prometheus at http://prometheus:9090 with uid %q", sources.Datasources, dashboardDatasource)
		}
	})
}

// mountedAt returns the host directory mounted at target in s.
func mountedAt(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target && v.Type == types.VolumeTypeBind {
			return v.Source
		}
	}
	t.Fatalf("%s: nothing mounted at %s", s.Name, target)
	return ""
}
