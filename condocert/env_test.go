package condocert_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

func TestMain(m *testing.M) {
	// Pebble reads these in its constructors. They are set here, not with
	// t.Setenv, so that tests can run in parallel.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")      // else 0–5 s sleep per validation
	os.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // else 5 % of good nonces are rejected
	os.Setenv("PEBBLE_AUTHZREUSE", "0")      // else orders may skip the DNS challenge
	condotest.Main(m)
}

// requireTool skips the test when a tool is missing, unless
// CONDO_REQUIRE_TOOLS=1 (as in CI), where it fails.
func requireTool(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if _, err := os.Stat(n); err == nil {
			return n
		}
	}
	if os.Getenv("CONDO_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not found (CONDO_REQUIRE_TOOLS=1)", names[0])
	}
	t.Skipf("%s not found; install it (.ci/run names the Debian package) or set CONDO_REQUIRE_TOOLS=1 to fail", names[0])
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// knot is an authoritative DNS server for example.test and customer.test
// accepting RFC 2136 updates signed with one TSIG key.
type knot struct {
	Addr    string
	KeyName string
	Secret  string
}

func (k *knot) provider() *condocert.RFC2136Provider {
	return &condocert.RFC2136Provider{Server: k.Addr, KeyName: k.KeyName, Secret: k.Secret}
}

func startKnot(t testing.TB) *knot {
	t.Helper()
	knotd := requireTool(t, "knotd", "/usr/sbin/knotd")
	dir := t.TempDir()
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	k := &knot{KeyName: "acme-key", Secret: base64.StdEncoding.EncodeToString(secret[:])}
	for _, d := range []string{"zones", "db"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	zones := map[string]string{
		"example.test":  "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n",
		"customer.test": "$ORIGIN customer.test.\n$TTL 60\n@ SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ NS ns1.example.test.\nshop A 127.0.0.1\nother A 127.0.0.1\n*.web A 127.0.0.1\n",
	}
	for z, content := range zones {
		if err := os.WriteFile(filepath.Join(dir, "zones", z+".zone"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cmd *exec.Cmd
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		k.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		conf := fmt.Sprintf(`server:
    listen: 127.0.0.1@%d
    rundir: "%[2]s"
    pidfile: "%[2]s/knot.pid"
log:
  - target: stderr
    any: warning
database:
    storage: "%[2]s/db"
key:
  - id: %[3]s
    algorithm: hmac-sha256
    secret: %[4]s
acl:
  - id: acme-update
    key: %[3]s
    action: update
template:
  - id: default
    storage: "%[2]s/zones"
    file: "%%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: example.test
    acl: acme-update
  - domain: customer.test
    acl: acme-update
`, port, dir, k.KeyName, k.Secret)
		if err := os.WriteFile(filepath.Join(dir, "knot.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(knotd, "-c", filepath.Join(dir, "knot.conf"))
		cmd.Stderr = &tlogWriter{t: t, prefix: "knotd: "}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start knotd: %v", err)
		}
		if waitDNS(k.Addr, "example.test.", 5*time.Second) == nil {
			break
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if attempt == 2 {
			t.Fatalf("knotd did not answer on %s", k.Addr)
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return k
}

// waitDNS polls an SOA query over TCP until the server answers.
func waitDNS(addr, zone string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	cl := &dns.Client{Net: "tcp", Timeout: time.Second}
	for {
		r, _, err := cl.Exchange(m, addr)
		if err == nil && r.Rcode == dns.RcodeSuccess {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // readiness poll of a child process
	}
}

type tlogWriter struct {
	t      testing.TB
	prefix string
	done   atomic.Bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// pebble is an in-process ACME server.
type pebble struct {
	DirURL   string
	APIRoots *x509.CertPool // trust for its HTTPS API
	Root     *x509.CertPool // the root that signs issued certificates
	api      *httptest.Server
	mgmt     *httptest.Server
	requests atomic.Int64 // every ACME API request
	orders   atomic.Int64 // new orders
	finals   atomic.Int64 // finalizations, i.e. issuances
	stopped  atomic.Bool
}

type pebbleOpts struct {
	DNS         string // knot address
	TLSALPNPort int
	HTTPPort    int               // where the VA connects for HTTP-01; defaults to 1 (nothing)
	Profiles    map[string]uint64 // name → validity in seconds, besides "default" (90 days)
}

func startPebble(t testing.TB, o pebbleOpts) *pebble {
	t.Helper()
	logger := log.New(io.Discard, "", 0)
	if os.Getenv("CONDO_TEST_DEBUG") != "" {
		logger = log.New(&tlogWriter{t: t, prefix: "pebble: "}, "", 0)
	}
	profiles := map[string]ca.Profile{"default": {Description: "90 days", ValidityPeriod: 90 * 24 * 3600}}
	for n, v := range o.Profiles {
		profiles[n] = ca.Profile{Description: n, ValidityPeriod: v}
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, cmp.Or(o.HTTPPort, 1), o.TLSALPNPort, false, o.DNS, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	p := &pebble{}
	h := front.Handler()
	p.api = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.stopped.Load() {
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		p.requests.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/order-plz"):
			p.orders.Add(1)
		case strings.HasPrefix(r.URL.Path, "/finalize-order/"):
			p.finals.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	p.api.StartTLS()
	p.mgmt = httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(p.Stop)
	p.DirURL = p.api.URL + "/dir"
	p.APIRoots = x509.NewCertPool()
	p.APIRoots.AddCert(p.api.Certificate())

	resp, err := p.mgmt.Client().Get(p.mgmt.URL + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	defer resp.Body.Close()
	pemRoot, _ := io.ReadAll(resp.Body)
	p.Root = x509.NewCertPool()
	if !p.Root.AppendCertsFromPEM(pemRoot) {
		t.Fatalf("pebble root: no certificate in %q", pemRoot)
	}
	return p
}

// Stop shuts the ACME server down; clients then fail to connect.
func (p *pebble) Stop() {
	if p.stopped.Swap(true) {
		return
	}
	p.api.CloseClientConnections()
	p.api.Close()
	p.mgmt.Close()
}

// env is one test's world: a database, DNS, a CA, and a unique base
// domain (certmagic keeps some state per name for the whole process).
type env struct {
	t    testing.TB
	db   *condotest.Database
	knot *knot
	ca   *pebble
	base string
	key  []byte
}

func newEnv(t testing.TB, label string, po pebbleOpts) *env {
	t.Helper()
	e := &env{t: t, knot: startKnot(t)}
	e.db = condotest.NewDatabaseInfo(t, nil)
	po.DNS = e.knot.Addr
	e.ca = startPebble(t, po)
	var b [3]byte
	_, _ = rand.Read(b[:])
	e.base = label + hex.EncodeToString(b[:]) + ".example.test"
	e.key, _ = condocert.ParseKey(condocert.NewKey())
	return e
}

func (e *env) config(logger bool) *condocert.Config {
	cfg := &condocert.Config{
		BaseDomains:        []string{e.base},
		CA:                 e.ca.DirURL,
		CARoots:            e.ca.APIRoots,
		Email:              "ops@example.test",
		DNSProvider:        e.knot.provider(),
		DNSResolvers:       []string{e.knot.Addr},
		PropagationTimeout: 10 * time.Second,
		EncryptionKey:      e.key,
		RenewCheckInterval: time.Second,
		LockPollInterval:   100 * time.Millisecond,
	}
	if logger {
		cfg.Logger = condotest.Logger(e.t)
	}
	return cfg
}

func newManager(t testing.TB, pool *pgxpool.Pool, cfg *condocert.Config) *condocert.Manager {
	t.Helper()
	m, err := condocert.New(pool, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return m
}

// serve runs an HTTPS server with m's TLS config on ln (or a new
// loopback listener) and returns its address.
func serve(t testing.TB, m *condocert.Manager, ln net.Listener) string {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.Host)
		}),
		TLSConfig: m.TLSConfig(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// handshake connects to addr with SNI name and returns the verified leaf.
func handshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: name, RootCAs: roots}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// get fetches https://name/ from the server at addr.
func get(addr, name string, roots *x509.CertPool) (string, error) {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + name + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

var errNotYet = errors.New("not yet")

// secondPool opens another pool on the test database, as a second server
// instance would.
func secondPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET search_path TO ''")
		return err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// lookupTXT asks the DNS server at addr for name's TXT values.
func lookupTXT(t testing.TB, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("TXT %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

// handshakeAt is handshake verifying as of time at.
func handshakeAt(addr, name string, roots *x509.CertPool, at time.Time) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		ServerName: name, RootCAs: roots, Time: func() time.Time { return at },
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// logCapture records log lines and also passes them to the test log.
type logCapture struct {
	mu    sync.Mutex
	lines []string
	// debug records debug lines too (certmagic's details, bridged from
	// zap one level down; see zaplog.go).
	debug bool
}

func (l *logCapture) logger(t testing.TB) *slog.Logger {
	inner := condotest.Logger(t).Handler()
	level := slog.LevelInfo
	if l.debug {
		level = slog.LevelDebug
	}
	return slog.New(&captureHandler{l: l, next: inner, level: level})
}

// count returns how many error lines mention all of words.
func (l *logCapture) count(words ...string) int { return l.countAt(slog.LevelError, words...) }

// countAt returns how many lines at level mention all of words.
func (l *logCapture) countAt(level slog.Level, words ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines {
		if !strings.HasPrefix(line, "level="+level.String()+" ") {
			continue
		}
		for _, w := range words {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		n++
	}
	return n
}

func (l *logCapture) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type captureHandler struct {
	l     *logCapture
	next  slog.Handler
	attrs []slog.Attr
	level slog.Level
}

func (h *captureHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= h.level }
func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{l: h.l, next: h.next.WithAttrs(as), attrs: append(slices.Clip(h.attrs), as...), level: h.level}
}
func (h *captureHandler) WithGroup(string) slog.Handler { return h }
func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "level=%s msg=%q", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.l.mu.Lock()
	h.l.lines = append(h.l.lines, b.String())
	h.l.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func newDatabase(t testing.TB) *pgxpool.Pool { return condotest.NewDatabase(t) }

func newDatabaseInfo(t testing.TB) *condotest.Database { return condotest.NewDatabaseInfo(t, nil) }

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.n.Add(1) + 1000 }

// listenTLS serves 200s with cfg on a loopback port.
func listenTLS(t testing.TB, cfg *tls.Config) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln, ln.Addr().String()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
