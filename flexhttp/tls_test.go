package flexhttp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-flexible/flexible/flexhttp"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// PEM files in a temporary directory, and returns their paths and a pool
// that trusts the certificate.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "flexhttp test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsClient trusts pool, with its own connection pool closed at cleanup.
func tlsClient(t *testing.T, pool *x509.CertPool, cfg *tls.Config) *http.Client {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = pool
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: hangGuard}
}

func TestTLSServesHTTPS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	s := newServer(t, &http.Server{Handler: okHandler()}, flexhttp.WithTLS(certFile, keyFile))
	if got, want := s.String(), "https(127.0.0.1:0)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	run(t, s)

	resp, err := tlsClient(t, pool, nil).Get("https://" + s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" || resp.TLS == nil {
		t.Errorf("GET = %d %q (TLS %v), want 200 \"ok\" over TLS", resp.StatusCode, body, resp.TLS != nil)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol = %s, want HTTP/2, which net/http offers over TLS", resp.Proto)
	}

	if got := get(newClient(t), "http://"+s.Addr()); got.code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS server = %d, %v; want 400", got.code, got.err)
	}
}

func TestTLSFromEnv(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	t.Setenv(flexhttp.EnvTLSCertFile, certFile)
	t.Setenv(flexhttp.EnvTLSKeyFile, keyFile)
	s := newServer(t, &http.Server{Handler: okHandler()})
	run(t, s)
	resp, err := tlsClient(t, pool, nil).Get("https://" + s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil {
		t.Error("response not over TLS")
	}
}

// WithTLS("", "") overrides the environment and turns TLS off; WithoutEnv
// ignores it too.
func TestTLSOffOverridesEnv(t *testing.T) {
	t.Setenv(flexhttp.EnvTLSCertFile, "/nonexistent/cert.pem")
	t.Setenv(flexhttp.EnvTLSKeyFile, "/nonexistent/key.pem")
	for _, opt := range []flexhttp.Option{flexhttp.WithTLS("", ""), flexhttp.WithoutEnv()} {
		s, err := flexhttp.New(nil, flexhttp.WithAddr(":1"), opt)
		if err != nil {
			t.Fatalf("New = %v, want nil", err)
		}
		if got, want := s.String(), "http(:1)"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
	}
}

// The caller's TLSConfig is kept for its settings, cloned, not modified.
func TestTLSKeepsCallerConfig(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	callers := &tls.Config{MinVersion: tls.VersionTLS13}
	srv := &http.Server{Handler: okHandler(), TLSConfig: callers}
	s := newServer(t, srv, flexhttp.WithTLS(certFile, keyFile))
	if len(callers.Certificates) != 0 {
		t.Error("New modified the caller's tls.Config")
	}
	if srv.TLSConfig == callers || srv.TLSConfig.MinVersion != tls.VersionTLS13 || len(srv.TLSConfig.Certificates) != 1 {
		t.Errorf("srv.TLSConfig = %+v, want a clone with MinVersion TLS 1.3 and the certificate", srv.TLSConfig)
	}
	run(t, s)
	_, err := tlsClient(t, pool, &tls.Config{MaxVersion: tls.VersionTLS12}).Get("https://" + s.Addr())
	if err == nil {
		t.Error("a TLS 1.2 client was served, want a handshake failure from MinVersion TLS 1.3")
	}
}

func TestTLSInvalid(t *testing.T) {
	certFile, keyFile, _ := writeCert(t)
	otherCert, _, _ := writeCert(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      [2]string // cert, key
		opt      flexhttp.Option
		want     string // the error's prefix
		wantFile bool   // the error wraps fs.ErrNotExist
	}{
		{name: "option cert without key", opt: flexhttp.WithTLS(certFile, ""),
			want: `flexhttp: invalid TLS configuration: WithTLS certFile "` + certFile + `" is set but WithTLS keyFile is empty; set both or neither`},
		{name: "option key without cert", opt: flexhttp.WithTLS("", keyFile),
			want: `flexhttp: invalid TLS configuration: WithTLS keyFile "` + keyFile + `" is set but WithTLS certFile is empty; set both or neither`},
		{name: "env cert without key", env: [2]string{certFile, ""},
			want: `flexhttp: invalid TLS configuration: FLEX_HTTP_TLS_CERT_FILE "` + certFile + `" is set but FLEX_HTTP_TLS_KEY_FILE is empty; set both or neither`},
		{name: "env key without cert", env: [2]string{"", keyFile},
			want: `flexhttp: invalid TLS configuration: FLEX_HTTP_TLS_KEY_FILE "` + keyFile + `" is set but FLEX_HTTP_TLS_CERT_FILE is empty; set both or neither`},
		{name: "missing file", env: [2]string{"/nonexistent/cert.pem", keyFile}, wantFile: true,
			want: `flexhttp: invalid TLS key pair FLEX_HTTP_TLS_CERT_FILE "/nonexistent/cert.pem", FLEX_HTTP_TLS_KEY_FILE "` + keyFile + `": open /nonexistent/cert.pem`},
		{name: "not PEM", opt: flexhttp.WithTLS(garbage, keyFile),
			want: `flexhttp: invalid TLS key pair WithTLS certFile "` + garbage + `", WithTLS keyFile "` + keyFile + `": tls: failed to find any PEM data in certificate input`},
		{name: "key does not match", opt: flexhttp.WithTLS(otherCert, keyFile),
			want: `flexhttp: invalid TLS key pair WithTLS certFile "` + otherCert + `", WithTLS keyFile "` + keyFile + `": tls: private key does not match public key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(flexhttp.EnvTLSCertFile, tt.env[0])
			t.Setenv(flexhttp.EnvTLSKeyFile, tt.env[1])
			srv := &http.Server{}
			_, err := flexhttp.New(srv, tt.opt)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("New = %v, want %q", err, tt.want)
			}
			if tt.wantFile && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("New = %v, want it to wrap fs.ErrNotExist", err)
			}
			if srv.Addr != "" || srv.ReadTimeout != 0 || srv.Handler != nil {
				t.Errorf("New changed srv despite the error: %+v", srv)
			}
		})
	}
}

// With WithLogger, net/http's own errors, such as a failed TLS handshake,
// are logged to the logger.
func TestTLSHandshakeErrorLogged(t *testing.T) {
	certFile, keyFile, _ := writeCert(t)
	logs := &chanHandler{ch: make(chan slog.Record, 100)}
	s, err := flexhttp.New(nil, flexhttp.WithAddr("127.0.0.1:0"), flexhttp.WithTLS(certFile, keyFile), flexhttp.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x16\x03\x01\x00\x05hello")) // a TLS record that is no ClientHello
	conn.Close()
	for {
		r := await(t, logs.ch, "a TLS handshake error in the log")
		if strings.HasPrefix(r.Message, "http: TLS handshake error") {
			if r.Level != slog.LevelError {
				t.Errorf("logged at %v, want ERROR", r.Level)
			}
			return
		}
	}
}

// chanHandler is a slog.Handler that sends each record on ch, dropping
// records when ch is full.
type chanHandler struct{ ch chan slog.Record }

func (h *chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *chanHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r:
	default:
	}
	return nil
}
func (h *chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *chanHandler) WithGroup(string) slog.Handler      { return h }

// An in-flight HTTP/2 request completes during Halt, as over HTTP/1.1, and
// the drain then ends: net/http sends GOAWAY and closes the connection once
// its last stream is done.
func TestTLSHaltDrainsInFlightHTTP2Request(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	h := newBlockingHandler(t)
	srv := &http.Server{Handler: h}
	shutdown := onShutdown(srv)
	s := newServer(t, srv, flexhttp.WithTLS(certFile, keyFile))
	done := run(t, s)

	type result struct {
		proto string
		body  string
		err   error
	}
	inflight := make(chan result, 1)
	client := tlsClient(t, pool, nil)
	go func() {
		resp, err := client.Get("https://" + s.Addr())
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		inflight <- result{resp.Proto, string(body), err}
	}()
	await(t, h.started, "handler start")
	halted := make(chan error, 1)
	go func() { halted <- s.Halt(context.Background()) }()
	await(t, shutdown, "shutdown start")
	select {
	case err := <-halted:
		t.Fatalf("Halt returned %v while an HTTP/2 request was in flight", err)
	default:
	}

	close(h.release)
	if got := await(t, inflight, "in-flight response"); got.err != nil || got.proto != "HTTP/2.0" || got.body != "done" {
		t.Errorf("in-flight request = %s %q, %v; want HTTP/2.0 \"done\", nil", got.proto, got.body, got.err)
	}
	if err := await(t, halted, "Halt"); err != nil {
		t.Errorf("Halt = %v, want nil", err)
	}
	if err := await(t, done, "Run"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
