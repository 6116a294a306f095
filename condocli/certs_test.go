package condocli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
