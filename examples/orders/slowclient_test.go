package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flex"
)

// TestShutdownWithSlowClient stops the system while a client trickles the
// body of a POST /orders, one byte a second. The api closes that
// connection when its share of the shutdown timeout ends (the order was
// never received, so nothing is lost), and every worker halted after it
// still halts cleanly: the consumers commit and leave their groups, the
// relay and the producer flush. Shutdown returns no error; the system
// then starts again and goes on shipping orders.
func TestShutdownWithSlowClient(t *testing.T) {
	cfg := testConfig(t)
	testKafka(t, &cfg)
	// 6s shared by the six workers: the api drains for up to 3.5s, each
	// worker after it is sure of 0.5s.
	cfg.ServiceOptions = []flex.Option{flex.WithSignals(), flex.WithShutdownTimeout(6 * time.Second)}
	sys := start(t, cfg)
	o := createOrder(t, sys.url, "before")
	waitForStatus(t, sys.url, o.ID, statusShipped)

	conn, err := net.Dial("tcp", sys.app.api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"customer":"slow","items":[{"sku":"BOOK-1","qty":1,"price_cents":100}]}`
	fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:1])
	go func() {
		for i := 1; i < len(body); i++ {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the slow request in the handler", func() bool {
		return inFlight(t, sys) > 0
	})

	if err := sys.stop(); err != nil {
		t.Fatalf("shutdown with a slow client: %v, want nil", err)
	}
	again := start(t, cfg)
	o2 := createOrder(t, again.url, "after")
	waitForStatus(t, again.url, o2.ID, statusShipped)
	if err := again.stop(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

// inFlight reads http_requests_in_flight from the operations server.
func inFlight(t *testing.T, sys *system) int {
	t.Helper()
	resp, err := http.Get(sys.opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, "http_requests_in_flight "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}
