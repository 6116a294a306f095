package condocert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// errNotExist is fs.ErrNotExist, named for brevity.
var errNotExist = fs.ErrNotExist

// importPrefix is where [Manager.Import] stores certificates.
const importPrefix = "condo/imported"

// CertFiles names a PEM certificate chain and its private key.
type CertFiles struct {
	CertFile string
	KeyFile  string
}

// CertbotFiles returns the files certbot keeps for domain under dir
// (usually /etc/letsencrypt): live/DOMAIN/fullchain.pem and privkey.pem.
func CertbotFiles(dir, domain string) CertFiles {
	live := filepath.Join(dir, "live", domain)
	return CertFiles{CertFile: filepath.Join(live, "fullchain.pem"), KeyFile: filepath.Join(live, "privkey.pem")}
}

type loadedFile struct {
	sig  string // what the source looked like when loaded (or failed)
	hash string // certmagic cache hash; "" if the last load failed
}

func fileSig(files ...string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return b.String(), nil
}

func firstCert(pemBytes []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			return nil, errors.New("no certificate in PEM data")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// reloadFiles (re)loads operator certificates whose files or stored
// copies changed. When initial is set a bad certificate is an error;
// later it is logged once and the previous certificate is kept.
func (m *Manager) reloadFiles(ctx context.Context, initial bool) error {
	var errs []error
	for _, f := range m.cfg.Files {
		sig, err := fileSig(f.CertFile, f.KeyFile)
		if err == nil && m.unchanged(f.CertFile, sig) {
			continue
		}
		if err == nil {
			var certPEM, keyPEM []byte
			if certPEM, err = os.ReadFile(f.CertFile); err == nil {
				if keyPEM, err = os.ReadFile(f.KeyFile); err == nil {
					err = m.cachePair(ctx, f.CertFile, sig, certPEM, keyPEM)
				}
			}
		}
		if err != nil {
			errs = append(errs, m.loadFailed(ctx, f.CertFile, sig, fmt.Errorf("load certificate %s: %w", f.CertFile, err), initial))
		}
	}
	keys, err := m.storage.List(ctx, importPrefix, true)
	if err != nil && !errors.Is(err, errNotExist) {
		errs = append(errs, m.loadFailed(ctx, importPrefix, "", fmt.Errorf("list imported certificates: %w", err), initial))
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".crt") {
			continue
		}
		ki, err := m.storage.Stat(ctx, k)
		if err != nil {
			errs = append(errs, m.loadFailed(ctx, k, "", err, initial))
			continue
		}
		sig := ki.Modified.String()
		if m.unchanged(k, sig) {
			continue
		}
		certPEM, err := m.storage.Load(ctx, k)
		if err == nil {
			var keyPEM []byte
			if keyPEM, err = m.storage.Load(ctx, strings.TrimSuffix(k, ".crt")+".key"); err == nil {
				err = m.cachePair(ctx, k, sig, certPEM, keyPEM)
			}
		}
		if err != nil {
			errs = append(errs, m.loadFailed(ctx, k, sig, fmt.Errorf("load imported certificate %s: %w", k, err), initial))
		}
	}
	if initial {
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("condocert: %w", err)
		}
	}
	return nil
}

func (m *Manager) unchanged(src, sig string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[src].sig == sig
}

// loadFailed records a failed load of src so that it is logged once per
// change of the source, and returns err.
func (m *Manager) loadFailed(ctx context.Context, src, sig string, err error, initial bool) error {
	m.mu.Lock()
	lf := m.files[src]
	logIt := !initial && (lf.sig != sig || sig == "")
	lf.sig = sig
	m.files[src] = lf
	m.mu.Unlock()
	if logIt {
		m.logger.LogAttrs(ctx, slog.LevelWarn, "certificate not reloaded; serving the previous one",
			slog.String("source", src), slog.String("error", err.Error()))
	}
	return err
}

func (m *Manager) cachePair(ctx context.Context, src, sig string, certPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	hash, err := m.dns.CacheUnmanagedTLSCertificate(ctx, pair, []string{"condo:" + src})
	if err != nil {
		return err
	}
	m.mu.Lock()
	old := m.files[src].hash
	m.files[src] = loadedFile{sig: sig, hash: hash}
	m.mu.Unlock()
	if old != "" && old != hash {
		m.cache.Remove([]string{old})
	}
	m.logger.LogAttrs(ctx, slog.LevelInfo, "certificate loaded", slog.String("source", src),
		slog.Any("names", pair.Leaf.DNSNames), slog.Time("not_after", pair.Leaf.NotAfter))
	return nil
}

// Import stores a certificate chain and its private key (PEM, e.g.
// certbot's fullchain.pem and privkey.pem) in the database, so that every
// instance serves it (after at most [Config.ReloadInterval]; this one at
// once). A later import for the same first name replaces it. Imported
// certificates are not renewed. It returns an error if the key does not
// match the certificate or the certificate has expired.
func (m *Manager) Import(ctx context.Context, certPEM, keyPEM []byte) (CertInfo, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return CertInfo{}, fmt.Errorf("import: %w", err)
	}
	leaf := pair.Leaf
	if len(leaf.DNSNames) == 0 {
		return CertInfo{}, errors.New("import: certificate has no DNS names")
	}
	if time.Now().After(leaf.NotAfter) {
		return CertInfo{}, fmt.Errorf("import: certificate for %s expired at %s", leaf.DNSNames[0], leaf.NotAfter.Format(time.RFC3339))
	}
	base := importPrefix + "/" + certmagic.StorageKeys.Safe(leaf.DNSNames[0]) + "/" + certmagic.StorageKeys.Safe(leaf.DNSNames[0])
	if err := m.storage.Store(ctx, base+".key", keyPEM); err != nil {
		return CertInfo{}, fmt.Errorf("import: %w", err)
	}
	if err := m.storage.Store(ctx, base+".crt", certPEM); err != nil {
		return CertInfo{}, fmt.Errorf("import: %w", err)
	}
	ki, err := m.storage.Stat(ctx, base+".crt")
	if err != nil {
		return CertInfo{}, fmt.Errorf("import: %w", err)
	}
	if err := m.cachePair(ctx, base+".crt", ki.Modified.String(), certPEM, keyPEM); err != nil {
		return CertInfo{}, fmt.Errorf("import: %w", err)
	}
	return CertInfo{
		Names: leaf.DNSNames, Source: "imported", Issuer: leaf.Issuer.CommonName, Serial: leaf.SerialNumber.Text(16),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Key: base + ".crt",
	}, nil
}

// AddCertificate serves cert (with its Leaf or parseable chain) from
// memory on this instance only, unmanaged: it is neither stored nor
// renewed. It is for certificates an application obtains itself.
func (m *Manager) AddCertificate(ctx context.Context, cert tls.Certificate) error {
	if _, err := m.dns.CacheUnmanagedTLSCertificate(ctx, cert, []string{"condo:added"}); err != nil {
		return fmt.Errorf("add certificate: %w", err)
	}
	return nil
}
