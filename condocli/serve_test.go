package condocli_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
)

// TestServeHelperProcess is the server process of TestServe: the test
// binary run again, as "hotels serve" with real signal handling.
func TestServeHelperProcess(t *testing.T) {
	marker := os.Getenv("CONDO_SERVE_HELPER")
	if marker == "" {
		t.Skip("helper process of TestServe")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		_ = os.WriteFile(marker, nil, 0o600)
		_, _ = io.Copy(io.Discard, r.Body) // until the test closes the body
		fmt.Fprint(w, "done")
	})
	var pools *condo.TenantPools
	tenant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ten, _ := condo.TenantFromContext(r.Context())
		if r.URL.Path != "/schema" {
			fmt.Fprintf(w, "tenant:%s", ten.Slug)
			return
		}
		// Through --tenant-pools.
		var schema string
		err := pools.QueryTenant(r.Context(), func(rows pgx.Rows) error {
			var err error
			schema, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
			return err
		}, "SELECT current_schema()")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "schema:%s", schema)
	})
	// Main reads os.Args: keep what follows "--".
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{"hotels"}, os.Args[i+1:]...)
			break
		}
	}
	os.Exit(newCLI(&condocli.Config{
		Name:  "hotels",
		Stack: &condostack.Config{TenantMigrations: tenantFS},
	}, &testApp{handlers: func(st *condostack.Stack) condohttp.Handlers {
		pools = st.TenantPools
		return condohttp.Handlers{Public: mux, Tenant: tenant}
	}}).Main())
}

// TestServe runs serve as a separate process: tenants by host, a suspend
// through the CLI (another process's registry) seen by the server within a
// second, and SIGTERM draining a request in flight.
func TestServe(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	marker := filepath.Join(t.TempDir(), "entered")
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeHelperProcess$", "-test.count=1", "--",
		"serve", "--http", addr, "--base-domain", "example.test", "--shutdown-timeout", "20s", "--db-conns", "4", "--tenant-pools", "2")
	cmd.Env = append(os.Environ(), "CONDO_SERVE_HELPER="+marker, "DATABASE_URL="+db.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	get := func(host, path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	condotest.WaitFor(t, 30*time.Second, "server ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("server exited: %v\n%s", exitErr, stderr.String())
		default:
		}
		s, _ := get("example.test", "/readyz")
		return s == 200
	})
	if s, body := get("acme.example.test", "/"); s != 200 || body != "tenant:acme" {
		t.Fatalf("tenant host: got %d %q", s, body)
	}
	if s, body := get("acme.example.test", "/schema"); s != 200 || body != "schema:tenant_1" {
		t.Errorf("query through the tenant pools: got %d %q", s, body)
	}
	if s, _ := get("nobody.example.test", "/"); s != 404 {
		t.Errorf("unknown tenant: got %d, want 404", s)
	}

	// A suspend through the CLI, in this process, reaches the server.
	start := time.Now()
	c.ok("tenants", "suspend", "acme")
	condotest.WaitFor(t, time.Second, "suspend seen by the server", func() bool { s, _ := get("acme.example.test", "/"); return s == 403 })
	t.Logf("suspend visible to the server after %v", time.Since(start).Round(time.Millisecond))

	// SIGTERM with a request in flight.
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addr+"/slow", pr)
		req.Host = "example.test"
		resp, err := client.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	_, _ = pw.Write([]byte("x"))
	condotest.WaitFor(t, 10*time.Second, "slow request in the handler", func() bool { _, err := os.Stat(marker); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	condotest.WaitFor(t, 10*time.Second, "new connections refused", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	select {
	case <-exited:
		t.Fatalf("server exited with a request in flight: %v", exitErr)
	default:
	}
	pw.Close()
	select {
	case r := <-inflight:
		if r.err != nil || r.status != 200 || r.body != "done" {
			t.Errorf("in-flight request: got %d %q %v, want 200 done", r.status, r.body, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("server exit: %v, want 0\n%s", exitErr, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log in:\n%s", stderr.String())
	}
}

func TestProxyConfig(t *testing.T) {
	t.Parallel()
	c := cli{t: t}
	out := c.ok("proxy-config", "nginx", "--domain", "Example.COM", "--upstream", "127.0.0.1:9000")
	for _, want := range []string{
		"server 127.0.0.1:9000;", "server_name example.com *.example.com;", "proxy_set_header Host $host;",
		"proxy_set_header X-Forwarded-For $remote_addr;", `proxy_set_header Forwarded "";`, "proxy_set_header X-Forwarded-Proto $scheme;",
		"keepalive_timeout 60s;", `proxy_set_header Connection "";`, "proxy_http_version 1.1;", "--trusted-proxy 127.0.0.1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nginx config lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("proxy-config", "nginx", "--domain", "example.com", "--https")
	for _, want := range []string{"listen 443 ssl http2;", "/etc/letsencrypt/live/example.com/fullchain.pem", "return 308 https://$host$request_uri;", "--redirect always"} {
		if !strings.Contains(out, want) {
			t.Errorf("nginx https config lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("proxy-config", "apache", "--domain", "example.com", "--https")
	for _, want := range []string{"ServerAlias example.com *.example.com", "ProxyPreserveHost On",
		"ProxyPass        / http://127.0.0.1:8080/", "ttl=60", `RequestHeader set X-Forwarded-Proto "https"`, "RequestHeader unset Forwarded", "<VirtualHost *:443>", "R=308"} {
		if !strings.Contains(out, want) {
			t.Errorf("apache config lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("proxy-config", "nginx", "--domain", "example.com", "--tenant-header", "X-Condo-Tenant")
	if !strings.Contains(out, `proxy_set_header X-Condo-Tenant "";`) {
		t.Errorf("nginx config does not clear the tenant header:\n%s", out)
	}
	c.fails("not a header name", "proxy-config", "nginx", "--domain", "example.com", "--tenant-header", "X;evil")
	c.fails("--domain is required", "proxy-config", "nginx")
	c.fails("unknown proxy", "proxy-config", "caddy", "--domain", "example.com")
	c.fails("invalid host", "proxy-config", "nginx", "--domain", "exa_mple.com")
}
