//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrape returns the sum of a metric's samples, over every label set,
// from the Prometheus text exposition at opsURL/metrics.
func scrape(opsURL, name string) (float64, error) { return scrapeLabeled(opsURL, name, "") }

// scrapeLabeled is scrape over the samples whose labels contain label,
// such as `group="orders-shipping"`; "" means all.
func scrapeLabeled(opsURL, name, label string) (float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(opsURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue // a comment, or another metric whose name starts the same
		}
		found = true // the metric exists, though perhaps not with label
		if label != "" && !strings.Contains(rest, label) {
			continue
		}
		if i := strings.LastIndex(rest, "}"); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: malformed sample %q", name, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: malformed sample %q", name, line)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no metric %s at %s/metrics", name, opsURL)
	}
	return sum, nil
}
