package condocli_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo/condotest"
)

// TestServeWaitsForDatabase starts serve while its database is down: serve
// keeps running, answers /healthz 200 and /readyz 503 with Retry-After,
// logs each failed try and when it retries, and serves once the database
// is up.
func TestServeWaitsForDatabase(t *testing.T) {
	t.Parallel()
	cl := condotest.NewCluster(t)
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Cluster: cl})
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	db.Pool.Close()
	cl.Shutdown(condotest.ShutdownFast)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeHelperProcess$", "-test.count=1", "--",
		"serve", "--http", addr, "--base-domain", "example.test", "--db-wait", "2m")
	cmd.Env = append(os.Environ(), "CONDO_SERVE_HELPER="+t.TempDir()+"/entered", "DATABASE_URL="+db.URL)
	stderr := &condotest.Buffer{}
	cmd.Stderr = stderr
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
	alive := func() {
		select {
		case <-exited:
			t.Fatalf("serve exited: %v\n%s", exitErr, stderr.String())
		default:
		}
	}

	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	get := func(host, path string) (int, string, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error(), ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
	}
	// Two failed tries logged, each with the error and the retry.
	condotest.WaitFor(t, 30*time.Second, "two failed tries logged", func() bool {
		alive()
		return strings.Count(stderr.String(), "database not reachable; retrying") >= 2
	})
	log := stderr.String()
	for _, want := range []string{"attempt=2", "retry_in=", "retry_at=", "connect"} {
		if !strings.Contains(log, want) {
			t.Errorf("the retry log lacks %q:\n%s", want, log)
		}
	}
	if s, body, _ := get("example.test", "/healthz"); s != 200 {
		t.Errorf("/healthz while waiting: got %d %q, want 200", s, body)
	}
	if s, body, ra := get("example.test", "/readyz"); s != 503 || ra == "" {
		t.Errorf("/readyz while waiting: got %d %q (Retry-After %q), want 503 with Retry-After", s, body, ra)
	}
	if s, _, ra := get("acme.example.test", "/"); s != 503 || ra == "" {
		t.Errorf("a tenant while waiting: got %d (Retry-After %q), want 503 with Retry-After", s, ra)
	}

	cl.Restart(t)
	back := time.Now()
	condotest.WaitFor(t, 30*time.Second, "ready after the database came up", func() bool {
		alive()
		s, _, _ := get("example.test", "/readyz")
		return s == 200
	})
	t.Logf("serve ready %v after the database accepted connections", time.Since(back).Round(time.Millisecond))
	if s, body, _ := get("acme.example.test", "/"); s != 200 || body != "tenant:acme" {
		t.Errorf("tenant after the database came up: got %d %q", s, body)
	}
	if !strings.Contains(stderr.String(), "database reachable") {
		t.Errorf("no log line saying the database is reachable:\n%s", stderr.String())
	}
}
