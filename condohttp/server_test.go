package condohttp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		fmt.Fprint(w, "done")
	})
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{Handler: h, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, condohttp.Listeners{HTTP: ln}) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz before shutdown: %d", resp.StatusCode)
	}
	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{string(b), err}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("slow request never reached the handler")
	}
	cancel() // as SIGTERM would, through signal.NotifyContext

	// New connections are refused once the listener is closed.
	condotest.WaitFor(t, 5*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if !srv.Draining() {
		t.Error("Draining() = false during shutdown")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	close(release)
	select {
	case r := <-inflight:
		if r.err != nil || r.body != "done" {
			t.Errorf("in-flight request: got %q, %v; want it completed", r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// selfSigned makes a certificate for *.example.test and example.test, and
// for *.saas.localhost and 127.0.0.1 (development hosts, which get no HSTS).
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example.test"},
		DNSNames:     []string{"example.test", "*.example.test", "*.saas.localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestServerHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test", "saas.localhost"}, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cert, roots := selfSigned(t)
	httpLn, httpsLn := listen(t), listen(t)
	httpsPort := httpsLn.Addr().(*net.TCPAddr).Port
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{
		Handler:   condohttp.NewRouter(res, echoHandlers()),
		HTTPSAddr: httpsLn.Addr().String(),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Resolver:  res,
		Logger:    condotest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, condohttp.Listeners{HTTP: httpLn, HTTPS: httpsLn}) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	// Every name resolves to the listener: a real client, real TLS, SNI.
	dialer := &net.Dialer{}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := client.Get(fmt.Sprintf("https://acme.example.test:%d/hotels/", httpsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "tenant:acme") {
		t.Errorf("HTTPS: got %d %q", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS protocol: got %s, want HTTP/2", resp.Proto)
	}
	for k, want := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "SAMEORIGIN",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	// Development hosts get no HSTS over real TLS: it would pin every
	// *.localhost site of the machine to HTTPS.
	for _, u := range []string{"https://acme.saas.localhost:%d/", "https://127.0.0.1:%d/healthz"} {
		resp, err := client.Get(fmt.Sprintf(u, httpsPort))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: got %d, HSTS %q; want 200 and none", fmt.Sprintf(u, httpsPort), resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}

	// Plain HTTP is redirected, keeping host, path and query.
	httpPort := httpLn.Addr().(*net.TCPAddr).Port
	resp, err = client.Get(fmt.Sprintf("http://acme.example.test:%d/hotels/?page=2", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := fmt.Sprintf("https://acme.example.test:%d/hotels/?page=2", httpsPort)
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("redirect: got %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on plain HTTP")
	}
	// Health checks are not redirected.
	resp, err = client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz over HTTP: got %d", resp.StatusCode)
	}
}

func TestServerLimitsAndHealth(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	readyErr := error(nil)
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{
		Handler:        http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }),
		MaxHeaderBytes: 4 << 10,
		Ready: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return readyErr
		},
		Logger: condotest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, condohttp.Listeners{HTTP: ln}) }()
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	defer func() { cancel(); <-served; tr.CloseIdleConnections() }()
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: got %d, want 431", resp.StatusCode)
	}
	resp, err = client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("panicking handler: got %d, want 500", resp.StatusCode)
	}
	check := func(path string, want int) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: got %d, want %d", path, resp.StatusCode, want)
		}
	}
	check("/healthz", 200)
	check("/readyz", 200)
	mu.Lock()
	readyErr = errors.New("database down")
	mu.Unlock()
	check("/readyz", 503)
	check("/healthz", 200)

	if _, err := condohttp.NewServer(&condohttp.ServerConfig{HTTPSAddr: ":0"}); err == nil ||
		!strings.Contains(err.Error(), "Handler") || !strings.Contains(err.Error(), "TLSConfig") {
		t.Errorf("NewServer with two problems: got %v, want both", err)
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	for _, s := range []string{"acme", "globex", "initech"} {
		e.create(t, s)
	}
	var logBuf condotest.Buffer
	metrics := condohttp.NewMetrics(&condohttp.MetricsConfig{TenantLimit: 2})
	ed := newEdge(t, e, &edgeOpts{server: &condohttp.ServerConfig{
		Metrics: metrics,
		Logger:  slog.New(slog.NewJSONHandler(&logBuf, nil)),
	}})
	for _, h := range []string{"acme.example.test", "acme.example.test", "globex.example.test", "initech.example.test", "nobody.example.test", "example.test"} {
		ed.get(t, h, "/", nil)
	}
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`condo_http_requests_total{code="200",handler="other",method="GET",route="tenant"} 4`,
		`condo_http_requests_total{code="404",handler="other",method="GET",route="unknown"} 1`,
		`condo_http_requests_total{code="200",handler="other",method="GET",route="public"} 1`,
		`condo_tenant_requests_total{class="2xx",tenant="acme"} 2`,
		`condo_tenant_requests_total{class="2xx",tenant="globex"} 1`,
		`condo_tenant_requests_total{class="2xx",tenant="_other"} 1`,
		`condo_http_request_duration_seconds_count{handler="other",route="tenant"} 4`,
		`condo_resolver_listening 1`,
		`condo_resolver_queries_total 1`, // nobody.example.test; Start preloaded the three tenants
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(out, `tenant="initech"`) {
		t.Error("tenant beyond the limit got its own series")
	}

	var found bool
	for line := range strings.Lines(logBuf.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "http request" {
			continue
		}
		if rec["tenant"] == "globex" {
			found = true
			for _, k := range []string{"request_id", "status", "duration", "host", "path", "method", "client", "route"} {
				if rec[k] == nil || rec[k] == "" {
					t.Errorf("access log line lacks %s: %s", k, line)
				}
			}
		}
	}
	if !found {
		t.Errorf("no access log line for tenant globex in:\n%s", logBuf.String())
	}
}

// TestNoHSTSForDevHosts checks that HTTPS responses for localhost, its
// subdomains and IP addresses carry no Strict-Transport-Security (with
// includeSubDomains on "localhost" a browser would pin every
// *.localhost:port site to HTTPS), while every other host gets it.
func TestNoHSTSForDevHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	trusted, err := condohttp.ParseTrustedProxies([]string{"loopback"})
	if err != nil {
		t.Fatal(err)
	}
	ed := newEdge(t, e, &edgeOpts{server: &condohttp.ServerConfig{TrustedProxies: trusted}})
	for host, want := range map[string]bool{
		"acme.example.test":       true,
		"example.test":            true,
		"nobody.example.test":     true,
		"localhostx.test":         true,
		"mylocalhost":             true,
		"localhost":               false,
		"localhost:8443":          false,
		"LOCALHOST.":              false,
		"saas.localhost":          false,
		"acme.saas.localhost":     false,
		"Acme.Saas.LocalHost.:84": false,
		"127.0.0.1":               false,
		"127.0.0.1:8443":          false,
		"[::1]:8443":              false,
		"[2001:db8::1]":           false,
	} {
		// Over HTTPS as a trusted TLS-terminating proxy reports it.
		_, _, h := ed.get(t, "internal.svc", "/healthz", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": host})
		if got := h.Get("Strict-Transport-Security") != ""; got != want {
			t.Errorf("Host %q: HSTS sent %v, want %v (%q)", host, got, want, h.Get("Strict-Transport-Security"))
		}
	}
}
