package condocert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// testCA issues certificates locally, fast.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var testSerial atomicCounter

// issue returns a PEM chain and key for names, with the given serial.
func (ca *testCA) issue(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(testSerial.next()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFiles(t testing.TB, f condocert.CertFiles, certPEM, keyPEM []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(f.CertFile), 0o700); err != nil {
		t.Fatal(err)
	}
	// Like certbot: write new files, then swap them in.
	for path, b := range map[string][]byte{f.CertFile: certPEM, f.KeyFile: keyPEM} {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
}

func serialOf(t testing.TB, certPEM []byte) *big.Int {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

// TestFiles: certificates brought as files (certbot's layout) are served
// and reloaded when they change; a broken file keeps the old one served.
func TestFiles(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	f := condocert.CertbotFiles(t.TempDir(), "byo.test")
	if !strings.HasSuffix(f.CertFile, filepath.Join("live", "byo.test", "fullchain.pem")) {
		t.Fatalf("CertbotFiles: %s", f.CertFile)
	}
	c1, k1 := ca.issue(t, "byo.test", "www.byo.test")
	writeFiles(t, f, c1, k1)

	logs := &logCapture{}
	m := newManager(t, newDatabase(t), &condocert.Config{
		Files: []condocert.CertFiles{f}, ReloadInterval: 50 * time.Millisecond,
		InsecurePlaintextStorage: true, Logger: logs.logger(t),
	})
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, nil)
	leaf, err := handshake(addr, "www.byo.test", ca.pool)
	if err != nil || leaf.SerialNumber.Cmp(serialOf(t, c1)) != 0 {
		t.Fatalf("first certificate: %v", err)
	}

	c2, k2 := ca.issue(t, "byo.test", "www.byo.test")
	writeFiles(t, f, c2, k2)
	condotest.WaitFor(t, 10*time.Second, "the renewed file to be served", func() error {
		leaf, err := handshake(addr, "byo.test", ca.pool)
		if err != nil {
			return err
		}
		if leaf.SerialNumber.Cmp(serialOf(t, c2)) != 0 {
			return errNotYet
		}
		return nil
	})

	// A half-written key: the previous certificate stays, one warning.
	writeFiles(t, f, c1, []byte("garbage"))
	condotest.WaitFor(t, 10*time.Second, "a warning about the broken file", func() error {
		if !strings.Contains(logs.dump(), "certificate not reloaded") {
			return errNotYet
		}
		return nil
	})
	leaf, err = handshake(addr, "byo.test", ca.pool)
	if err != nil || leaf.SerialNumber.Cmp(serialOf(t, c2)) != 0 {
		t.Fatalf("after a broken reload: %v, serial %v; want the previous certificate", err, leaf)
	}

	// A missing file at start is an error.
	m2, _ := condocert.New(newDatabase(t), &condocert.Config{
		Files: []condocert.CertFiles{{CertFile: "/nonexistent/fullchain.pem", KeyFile: "/nonexistent/privkey.pem"}}, InsecurePlaintextStorage: true,
	})
	if err := m2.Start(t.Context()); err == nil {
		t.Error("Start with a missing certificate file succeeded")
	}
	_ = m2.Stop(t.Context())
}

// TestImport: an imported certificate is stored (encrypted) in the
// database and served by every instance.
func TestImport(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	info := newDatabaseInfo(t)
	key, _ := condocert.ParseKey(condocert.NewKey())
	cfg := &condocert.Config{EncryptionKey: key, ReloadInterval: 50 * time.Millisecond, Logger: condotest.Logger(t)}
	m1 := newManager(t, info.Pool, cfg)
	m2 := newManager(t, secondPool(t, info.URL), cfg)
	for _, m := range []*condocert.Manager{m1, m2} {
		if err := m.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	certPEM, keyPEM := ca.issue(t, "imported.test")
	if _, err := m1.Import(t.Context(), certPEM, []byte("not a key")); err == nil {
		t.Fatal("Import with a bad key succeeded")
	}
	got, err := m1.Import(t.Context(), certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != "imported" || got.Names[0] != "imported.test" {
		t.Errorf("Import: %+v", got)
	}
	if _, err := handshake(serve(t, m1, nil), "imported.test", ca.pool); err != nil {
		t.Errorf("importing instance: %v", err)
	}
	addr2 := serve(t, m2, nil)
	condotest.WaitFor(t, 10*time.Second, "the other instance to serve the import", func() error {
		_, err := handshake(addr2, "imported.test", ca.pool)
		return err
	})
	list, err := m2.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Source != "imported" {
		t.Errorf("List: %+v, %v", list, err)
	}
	var plain bool
	_ = info.Pool.QueryRow(t.Context(), `SELECT bool_or(position('PRIVATE KEY' in convert_from(value, 'SQL_ASCII')) > 0) FROM public.condo_cert_storage`).Scan(&plain)
	if plain {
		t.Error("a private key is stored in plaintext")
	}
}

// TestDevCA: the development CA serves *.localhost with certificates its
// root verifies, refuses other names, survives a restart, and cannot sign
// for other names because of its name constraints.
func TestDevCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	ca, err := condocert.NewDevCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "condo-dev-ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	if !strings.Contains(ca.TrustCommand(), "update-ca-certificates") || !strings.Contains(ca.TrustCommand(), ca.CertFile()) {
		t.Errorf("TrustCommand: %s", ca.TrustCommand())
	}
	ca2, err := condocert.NewDevCA(dir) // a restart loads the same CA
	if err != nil {
		t.Fatal(err)
	}
	ln, addr := listenTLS(t, ca2.TLSConfig())
	_ = ln
	for _, name := range []string{"shop.localhost", "localhost", "a.b.localhost"} {
		if _, err := handshake(addr, name, ca.Pool()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := handshake(addr, "example.com", ca.Pool()); err == nil {
		t.Error("example.com: served")
	}

	// Even with its key, the CA cannot make a certificate for a real name
	// that verifies.
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "condo-dev-ca-key.pem"))
	certPEM, _ := os.ReadFile(ca.CertFile())
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	evil := &testCA{cert: pair.Leaf, key: pair.PrivateKey.(*ecdsa.PrivateKey)}
	c, _ := evil.issue(t, "bank.example")
	b, _ := pem.Decode(c)
	leaf, _ := x509.ParseCertificate(b.Bytes)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "bank.example", Roots: ca.Pool()}); err == nil {
		t.Error("a certificate for bank.example signed by the development CA verified")
	}
}
