package condocli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestProxyConfigNginx runs the printed nginx configuration in a real nginx
// in front of a Condo server: the Host reaches Condo (tenant routing works
// through the proxy), X-Forwarded-* are believed from the proxy, unknown
// hosts stay 404, and no forwarding header a client sends (Forwarded,
// X-Forwarded-*, X-Real-IP, the tenant header) has any effect.
func TestProxyConfigNginx(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx") // not on a user's PATH
	}
	if err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal("nginx not found: apt-get install nginx")
		}
		t.Skip("nginx not found (apt-get install nginx)")
	}
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("tenants", "create", "acme", "--name", "Acme")

	ctx := t.Context()
	st, err := condostack.Open(ctx, &condostack.Config{DatabaseURL: db.URL, PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := condo.NewResolver(st.Registry, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, TenantHeader: "X-Condo-Tenant", Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := condohttp.ParseTrustedProxies([]string{"127.0.0.1"})
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{
		Handler: condohttp.NewRouter(res, condohttp.Handlers{
			Public: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "public") }),
			Tenant: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ten, _ := condo.TenantFromContext(r.Context())
				fmt.Fprintf(w, "tenant:%s https:%v client:%s id:%s", ten.Slug, condohttp.IsHTTPS(r), condohttp.ClientAddr(r.Context()), condohttp.RequestID(r.Context()))
			}),
		}),
		TrustedProxies: trusted,
		Logger:         condotest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	upstream, front := freeAddr(t), freeAddr(t)
	ln, err := net.Listen("tcp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, condohttp.Listeners{HTTP: ln}) }()
	defer func() { stop(); <-served }()

	conf := c.ok("proxy-config", "nginx", "--domain", "example.test", "--upstream", upstream, "--tenant-header", "X-Condo-Tenant")
	// Listen on a free loopback port instead of 80.
	conf = strings.ReplaceAll(conf, "listen 80;", "listen "+front+";")
	conf = strings.ReplaceAll(conf, "    listen [::]:80;\n", "")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "condo.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/condo.conf;
}
`, dir)
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", mainPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t rejects the printed configuration: %v\n%s\n%s", err, out, conf)
	}
	// The HTTPS variant passes nginx -t too, with a certificate in place.
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	httpsConf := c.ok("proxy-config", "nginx", "--domain", "example.test", "--upstream", upstream, "--https",
		"--cert-file", certFile, "--key-file", keyFile)
	httpsConf = strings.NewReplacer("listen 80;", "listen "+freeAddr(t)+";", "listen 443 ssl http2;", "listen "+freeAddr(t)+" ssl http2;",
		"    listen [::]:80;\n", "", "    listen [::]:443 ssl http2;\n", "").Replace(httpsConf)
	if err := os.WriteFile(filepath.Join(dir, "condo.conf"), []byte(httpsConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", mainPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t rejects the printed HTTPS configuration: %v\n%s\n%s", err, out, httpsConf)
	}
	if err := os.WriteFile(filepath.Join(dir, "condo.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(nginx, "-p", dir, "-c", mainPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		// SIGTERM: the master stops its workers, then exits. SIGKILL
		// would leave the workers running, orphaned, on their port.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var lastHeader http.Header
	get := func(host string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+front+"/", nil)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		lastHeader = resp.Header
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	condotest.WaitFor(t, 10*time.Second, "nginx listening", func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited:\n%s", b)
		default:
		}
		s, _ := get("example.test", nil)
		return s == 200
	})
	for _, tc := range []struct {
		host, want string
		status     int
	}{
		{"acme.example.test", "tenant:acme https:false", 200},
		{"ACME.example.test", "tenant:acme https:false", 200},
		{"example.test", "public", 200},
		{"www.example.test", "public", 200},
		{"nobody.example.test", "", 404},
	} {
		s, body := get(tc.host, nil)
		if s != tc.status || !strings.HasPrefix(body, tc.want) {
			t.Errorf("through nginx, Host %s: got %d %.60q, want %d %q", tc.host, s, body, tc.status, tc.want)
		}
	}
	// nginx's request id reaches Condo (from a trusted proxy).
	if _, body := get("acme.example.test", nil); !strings.Contains(body, "id:") || strings.HasSuffix(body, "id:") {
		t.Errorf("request id: %q", body)
	}
	// Whatever a client sends in a header Condo reads, through nginx it
	// changes nothing: not the scheme (no HSTS), not the address the
	// throttles count, not the tenant.
	for _, hdr := range []map[string]string{
		{"X-Forwarded-Proto": "https"},
		{"Forwarded": "for=203.0.113.9;proto=https;host=globex.example.test"},
		{"Forwarded": `for="[2001:db8::9]";proto=https`},
		{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "X-Forwarded-Host": "globex.example.test"},
		{"X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/evil"},
	} {
		s, body := get("acme.example.test", hdr)
		if s != 200 || !strings.HasPrefix(body, "tenant:acme https:false client:127.0.0.1 ") {
			t.Errorf("client sent %v through nginx: got %d %q, want tenant acme, plain HTTP, client 127.0.0.1", hdr, s, body)
		}
		if lastHeader.Get("Strict-Transport-Security") != "" {
			t.Errorf("client sent %v through nginx: HSTS on plain HTTP", hdr)
		}
	}
	if s, body := get("nobody.other.test", map[string]string{"X-Condo-Tenant": "acme"}); s != 404 {
		t.Errorf("client's tenant header through nginx: got %d %q, want 404", s, body)
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"example.test", "*.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
