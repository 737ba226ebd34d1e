package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// dashboardDatasource is the uid of the Prometheus data source that the
// dashboard's panels name and Grafana's provisioning defines.
const dashboardDatasource = "prometheus"

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/dashboards/orders.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("orders.json: %v", err)
	}
	return d
}

// TestDashboard checks the dashboard's shape (unique ids, panels within
// the grid and apart, every panel on the provisioned data source with a
// query and a description) and that README.md shows every panel's
// queries, as a screenshot cannot.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard has no uid or title")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	queries := 0
	cells := map[[2]int]string{} // grid cells taken, by panel title
	for _, p := range d.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is not within Grafana's 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dashboardDatasource || len(p.Targets) == 0 || p.Description == "" {
			t.Errorf("panel %q: want the %q data source, queries and a description", p.Title, dashboardDatasource)
		}
		if !bytes.Contains(readme, []byte("| "+p.Title+" | "+p.Description+" |")) {
			t.Errorf("README.md has no row for panel %q with its description", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			if !bytes.Contains(readme, []byte("`"+strings.ReplaceAll(tg.Expr, "|", `\|`)+"`")) {
				t.Errorf("README.md does not show panel %q's query %s", p.Title, tg.Expr)
			}
		}
	}
	if queries == 0 {
		t.Error("the dashboard has no queries")
	}
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`up{job="orders"} == 0`: "up",
		`sum by (route) (rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05`:       "http_requests_total",
		`histogram_quantile(0.99, sum by (worker, le) (rate(flex_worker_halt_duration_seconds_bucket[1m])))`:            "flex_worker_halt_duration_seconds_bucket",
		`a_total > 0 and on (x) b_total == 0 or sum without (y) (c) unless d offset 5m`:                                 "a_total b_total c d",
		`sum(rate(orders_kafka_consumer_messages_total{topic=~"(.*\\.)?orders\\.paid"}[1m])) or vector(0)`:              "orders_kafka_consumer_messages_total",
		`max by (exported_job, instance) (orders_cron_last_duration_seconds) * on (instance) group_left (x) process_up`: "orders_cron_last_duration_seconds process_up",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}
