package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
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

	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// devRun is one run of the dev command, in this process.
type devRun struct {
	out       *condotest.Buffer
	port      string
	httpsPort string
	cancel    context.CancelFunc
	errc      chan error
}

func startDev(t *testing.T, stateDir string) *devRun {
	t.Helper()
	start := time.Now()
	r := &devRun{out: &condotest.Buffer{}, errc: make(chan error, 1)}
	cli := newCLI(&options{
		stateDir: stateDir,
		stdout:   r.out,
		stderr:   r.out,
		getenv:   func(string) string { return "" }, // no DATABASE_URL from the environment
		logger:   condotest.Logger(t),
		accounts: &accounts.Config{Argon2: &accounts.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}},
	})
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.errc <- cli.Execute(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--https", "127.0.0.1:0"}) }()
	re := regexp.MustCompile(`Tenant acme +http://acme\.localhost:(\d+)/`)
	// Generous bounds: a loaded CI machine must not fail the test. How fast
	// dev is (the issue asks for 20 s) is measured and written down in
	// BENCHMARKS.md, not asserted here.
	condotest.WaitFor(t, 90*time.Second, "dev to print its URLs", func() bool {
		select {
		case err := <-r.errc:
			t.Fatalf("dev exited: %v\n%s", err, r.out.String())
		default:
		}
		m := re.FindStringSubmatch(r.out.String())
		if m != nil {
			r.port = m[1]
		}
		return m != nil
	})
	if m := regexp.MustCompile(`https://acme\.localhost:(\d+)/`).FindStringSubmatch(r.out.String()); m != nil {
		r.httpsPort = m[1]
	}
	c := r.client(t)
	if p := c.get(r.url("acme", "/")); p.Status != http.StatusOK || p.URL.Path != "/login" {
		t.Fatalf("acme: status %d on %s, want the sign-in page", p.Status, p.URL)
	}
	t.Logf("dev up and acme answering in %s", time.Since(start).Round(time.Millisecond))
	return r
}

func (r *devRun) url(label, path string) string {
	return "http://" + label + ".localhost:" + r.port + path
}

func (r *devRun) client(t *testing.T) *client {
	ta := &testApp{t: t, port: r.port}
	return ta.clientTo("127.0.0.1:" + r.port)
}

func (r *devRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Fatalf("dev: %v\n%s", err, r.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30 s")
	}
}

// clusterStatus is the pid of the state folder's PostgreSQL, 0 if none.
func clusterStatus(stateDir string) int {
	pid, _, _ := pgcluster.Running(clusterDir(stateDir))
	return pid
}

// The dev command: a private cluster under the state folder, demo tenants
// that answer within 20 s, nothing left running after it stops, and the
// data kept for the next run.
func TestDev(t *testing.T) {
	t.Parallel()
	if _, err := pgcluster.FindBinDir(); err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// Not t.TempDir: PostgreSQL runs as another user when tests run as
	// root, and t.TempDir's parent is private.
	dir, err := os.MkdirTemp("", "hotels-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	run := startDev(t, dir)
	if !bytes.Contains([]byte(run.out.String()), []byte("demo data created [acme globex]")) {
		t.Fatalf("first run did not create the demo data:\n%s", run.out.String())
	}
	pid := clusterStatus(dir)
	if pid == 0 {
		t.Fatal("no PostgreSQL running under the state folder")
	}
	c := run.client(t)
	want(t, c.login("acme", demoEmail, demoPassword), http.StatusOK, "Acme Grand Paris", "Page 1 of 2")
	// HTTPS with the development CA, which the first run made and
	// explained.
	if !strings.Contains(run.out.String(), "To trust it on this machine") || run.httpsPort == "" {
		t.Fatalf("no HTTPS or no trust instructions:\n%s", run.out.String())
	}
	pem, err := os.ReadFile(filepath.Join(dir, "ca", "condo-dev-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+run.httpsPort)
		},
	}}
	hc.Jar, _ = cookiejar.New(nil)
	hs := &client{t: t, c: hc}
	base := "https://acme.localhost:" + run.httpsPort
	p := hs.submit(base+"/login", base+"/login", url.Values{"email": {demoEmail}, "password": {demoPassword}})
	want(t, p, http.StatusOK, "Acme Grand Paris")
	u, _ := url.Parse(base + "/")
	var names []string
	for _, ck := range hc.Jar.Cookies(u) {
		names = append(names, ck.Name)
	}
	if !slices.Contains(names, "__Host-session") || slices.Contains(names, "session") {
		t.Fatalf("HTTPS cookies %v: want the __Host- session cookie", names)
	}
	hc.CloseIdleConnections()
	want(t, c.submit(run.url("acme", "/hotels/new"), run.url("acme", "/hotels/new"),
		url.Values{"name": {"Kept Across Runs"}, "city": {"Caen"}, "stars": {"3"}}), http.StatusOK, "Kept Across Runs")
	run.stop(t)
	if clusterStatus(dir) != 0 || syscall.Kill(pid, 0) == nil {
		t.Fatalf("PostgreSQL (pid %d) still running after dev stopped", pid)
	}

	// The second run is the command itself in a process of its own,
	// stopped the way Ctrl-C stops it.
	proc := startDevProcess(t, dir)
	if !strings.Contains(proc.out.String(), "demo data reused") {
		t.Fatalf("second run did not reuse the data:\n%s", proc.out.String())
	}
	c = proc.client(t)
	want(t, c.login("acme", demoEmail, demoPassword), http.StatusOK)
	want(t, c.get(proc.url("acme", "/?q=kept")), http.StatusOK, "Kept Across Runs")
	// The CLI finds the running cluster (no second server on the folder).
	pid = clusterStatus(dir)
	url, stop, err := defaultDatabase(t.Context(), dir)
	if err != nil || stop != nil || url == "" {
		t.Fatalf("defaultDatabase while dev runs: %q, stop %v, %v; want the running cluster's URL", url, stop != nil, err)
	}
	// And a second dev on the same folder refuses, naming the first.
	cli := newCLI(&options{stateDir: dir, getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard})
	if err := cli.Execute(t.Context(), []string{"dev", "--addr", "127.0.0.1:0", "--https", ""}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("already running, pid %d", pid)) {
		t.Fatalf("a second dev on the folder: %v; want already running, pid %d", err, pid)
	}
	if err := proc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := proc.wait(30 * time.Second); err != nil {
		t.Fatalf("dev after SIGINT: %v\n%s", err, proc.out.String())
	}
	if syscall.Kill(pid, 0) == nil || clusterStatus(dir) != 0 {
		t.Fatalf("PostgreSQL (pid %d) still running after Ctrl-C", pid)
	}
}

// devProcess is the dev command running in a child process (this test
// binary, running main).
type devProcess struct {
	cmd  *exec.Cmd
	out  *condotest.Buffer
	done chan error
	devRun
}

func startDevProcess(t *testing.T, stateDir string) *devProcess {
	t.Helper()
	p := &devProcess{out: &condotest.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "dev", "--state-dir", stateDir, "--addr", "127.0.0.1:0", "--https", "")
	p.cmd.Env = append(os.Environ(), runMainEnv+"=1", "DATABASE_URL=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	re := regexp.MustCompile(`Tenant acme +http://acme\.localhost:(\d+)/`)
	condotest.WaitFor(t, 90*time.Second, "the dev process to print its URLs", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("dev exited: %v\n%s", err, p.out.String())
		default:
		}
		m := re.FindStringSubmatch(p.out.String())
		if m != nil {
			p.port = m[1]
		}
		return m != nil
	})
	return p
}

// wait waits for the process to exit, and reports a non-zero exit.
func (p *devProcess) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}
