package condocert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DevCA is a local certificate authority for development: it serves
// *.localhost (and localhost, 127.0.0.1, ::1) over HTTPS with leaf
// certificates it makes in memory on first use. The CA itself is kept in
// a state directory so that it is trusted once. Its name constraints
// limit it to localhost names and loopback addresses, so its key cannot
// sign a certificate a browser would accept for a real site.
type DevCA struct {
	certFile string
	cert     *x509.Certificate
	key      crypto.Signer

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// DevCA file names in the state directory.
const (
	devCACertName = "condo-dev-ca.pem"
	devCAKeyName  = "condo-dev-ca-key.pem"
)

// NewDevCA loads the development CA from dir, creating dir and the CA if
// they do not exist. The key file is written with mode 0600.
func NewDevCA(dir string) (*DevCA, error) {
	ca := &DevCA{certFile: filepath.Join(dir, devCACertName), leaves: map[string]*tls.Certificate{}}
	keyFile := filepath.Join(dir, devCAKeyName)
	certPEM, err := os.ReadFile(ca.certFile)
	if errors.Is(err, fs.ErrNotExist) {
		if err := ca.create(dir, keyFile); err != nil {
			return nil, fmt.Errorf("development CA: %w", err)
		}
		return ca, nil
	}
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("development CA %s: %w", ca.certFile, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("development CA %s: key cannot sign", ca.certFile)
	}
	ca.cert, ca.key = pair.Leaf, signer
	return ca, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func (ca *DevCA) create(dir, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:                serial(),
		Subject:                     pkix.Name{CommonName: "Condo development CA (" + host + ")", Organization: []string{"Condo development"}},
		NotBefore:                   time.Now().Add(-time.Hour),
		NotAfter:                    time.Now().AddDate(10, 0, 0),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(ca.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	ca.cert, err = x509.ParseCertificate(der)
	ca.key = key
	return err
}

// CertFile returns the path of the CA certificate (PEM), the file to
// trust.
func (ca *DevCA) CertFile() string { return ca.certFile }

// Pool returns a pool holding the CA certificate, for clients.
func (ca *DevCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// TrustCommand returns the shell commands that make this machine trust
// the CA (Debian and Ubuntu, Fedora, macOS), for printing at startup.
// Firefox keeps its own store: import the file in its certificate settings.
func (ca *DevCA) TrustCommand() string {
	f := ca.certFile
	return "# Debian/Ubuntu:\n" +
		"sudo cp " + f + " /usr/local/share/ca-certificates/condo-dev.crt && sudo update-ca-certificates\n" +
		"# Fedora/RHEL:\n" +
		"sudo cp " + f + " /etc/pki/ca-trust/source/anchors/condo-dev.pem && sudo update-ca-trust\n" +
		"# macOS:\n" +
		"sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + f + "\n"
}

// TLSConfig returns a tls.Config serving leaf certificates from the CA.
func (ca *DevCA) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: ca.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// devName reports whether name is one the development CA signs.
func devName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// GetCertificate returns a leaf for the ClientHello's server name, made
// on first use. Names outside localhost get an error; an empty name (a
// connection by IP address) gets the localhost certificate.
func (ca *DevCA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" {
		name = "localhost"
	}
	if !devName(name) {
		return nil, fmt.Errorf("development CA: %q is not a localhost name", name)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[name]; ok && time.Until(c.Leaf.NotAfter) > time.Hour {
		return c, nil
	}
	c, err := ca.issue(name)
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	ca.leaves[name] = c
	return c, nil
}

func (ca *DevCA) issue(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(0, 0, 30),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if name == "localhost" {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
