package condocli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condotest"
)

func TestCertsCommands(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	key := strings.TrimSpace(c.ok("certs", "genkey"))
	if len(key) < 40 {
		t.Fatalf("genkey printed %q", key)
	}
	keyFile := filepath.Join(t.TempDir(), "storage.key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	// No key: a clear error, and nothing stored.
	c.fails("certificate storage key", "certs", "list")
	c.fails("--dns-provider", "certs", "obtain", "--cert-key-file", keyFile, "--base-domain", "example.test", "--acme-email", "ops@example.test")

	certPEM, keyPEM := selfSigned(t, "shop.example.test")
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	_ = os.WriteFile(certPath, certPEM, 0o600)
	_ = os.WriteFile(keyPath, keyPEM, 0o600)
	if out := c.ok("certs", "import", "--cert-key-file", keyFile, "--cert", certPath, "--key", keyPath); !strings.Contains(out, "shop.example.test") {
		t.Fatalf("import: %s", out)
	}
	if out := c.ok("certs", "list", "--cert-key-file", keyFile); !strings.Contains(out, "shop.example.test") {
		t.Fatalf("list after import: %s", out)
	}
	// The private key is not stored in plaintext.
	var plain, rows int
	if err := db.Pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE NOT encrypted OR position($1::bytea in value) > 0), count(*)
		FROM public.condo_cert_storage`, []byte("PRIVATE KEY")).Scan(&plain, &rows); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || plain > 0 {
		t.Fatalf("%d of %d stored rows are plaintext", plain, rows)
	}
}

func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestCertsRotateKey: `certs rotate-key` re-encrypts the storage; then
// only the new key reads it, and a wrong current key changes nothing.
func TestCertsRotateKey(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	dir := t.TempDir()
	keyFile := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.TrimSpace(c.ok("certs", "genkey"))+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldKey, newKey, wrongKey := keyFile("old.key"), keyFile("new.key"), keyFile("wrong.key")
	certPEM, keyPEM := selfSigned(t, "rotate.example.test")
	certPath, keyPath := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	_ = os.WriteFile(certPath, certPEM, 0o600)
	_ = os.WriteFile(keyPath, keyPEM, 0o600)
	c.ok("certs", "import", "--cert-key-file", oldKey, "--cert", certPath, "--key", keyPath)

	c.fails("--new-key-file is required", "certs", "rotate-key", "--cert-key-file", oldKey)
	c.fails("do not decrypt with the old key; nothing was changed", "certs", "rotate-key", "--cert-key-file", wrongKey, "--new-key-file", newKey)
	if out := c.ok("certs", "list", "--cert-key-file", oldKey); !strings.Contains(out, "rotate.example.test") {
		t.Fatalf("list with the old key after a refused rotation: %s", out)
	}

	out := c.ok("certs", "rotate-key", "--cert-key-file", oldKey, "--new-key-file", newKey)
	if !strings.Contains(out, "re-encrypted 2 stored values") {
		t.Errorf("rotate-key printed %q", out)
	}
	c.fails("does not decrypt", "certs", "list", "--cert-key-file", oldKey)
	if out := c.ok("certs", "list", "--cert-key-file", newKey); !strings.Contains(out, "rotate.example.test") {
		t.Fatalf("list with the new key: %s", out)
	}
}

func TestServeCertificateFlags(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.fails("--https needs certificates", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0")
	c.fails("--tenant-pools: want 0 (off) to --db-conns (4)", "serve", "--http", "127.0.0.1:0", "--db-conns", "4", "--tenant-pools", "5")
	c.fails("--tenant-pools: want 0 (off) to --db-conns (20)", "serve", "--http", "127.0.0.1:0", "--tenant-pools", "-1")
	c.fails("runtime shard urls: give them or a runtime database url, not both", "serve", "--http", "127.0.0.1:0",
		"--runtime-database-url", db.URL, "--runtime-shard-url", db.URL, "--runtime-shard-url", db.URL)
	c.fails("DNS provider", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
		"--base-domain", "example.test", "--acme-email", "ops@example.test", "--dns-provider", "nope")
	c.fails("certificate storage key", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
		"--base-domain", "example.test", "--acme-email", "ops@example.test")
	c.fails("--cert-file and --key-file", "serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--cert-file", "/nonexistent.pem")
}

func TestServeStoppedHook(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	stopped := make(chan struct{})
	var out bytes.Buffer
	logs := &condotest.Buffer{}
	cl := newCLI(&condocli.Config{
		Getenv: func(k string) string { return map[string]string{"DATABASE_URL": db.URL}[k] },
		Stdin:  strings.NewReader(""), Stdout: &out, Stderr: &out,
		// Info level, read by the test: serve is asked to stop only once
		// it listens (a fixed delay was too short on a loaded machine).
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}, &testApp{stopped: func() { close(stopped) }})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- cl.Execute(ctx, []string{"serve", "--http", "127.0.0.1:0", "--shutdown-timeout", "5s"})
	}()
	condotest.WaitFor(t, 60*time.Second, "serve to listen", func() bool {
		select {
		case <-stopped:
			t.Fatal("Stopped ran before the server was asked to stop")
		case err := <-errc:
			t.Fatalf("serve ended early: %v\n%s\n%s", err, out.String(), logs.String())
		default:
		}
		return strings.Contains(logs.String(), "msg=listening")
	})
	select {
	case <-stopped:
		t.Fatal("Stopped ran before the server was asked to stop")
	default:
	}
	cancel() // what SIGTERM does through Main
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Stopped did not run before serve returned")
	}
}
