package condocert

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mholt/acmez/v3"
)

// ACME directories of Let's Encrypt.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Config configures a [Manager].
type Config struct {
	// BaseDomains are the domains tenants get subdomains of. For each,
	// the Manager keeps two certificates, *.base and base, obtained over
	// ACME DNS-01 through DNSProvider.
	BaseDomains []string
	// CA is the ACME directory URL. Defaults to [LetsEncryptProduction].
	CA string
	// Email is the ACME account's contact address. Required when
	// BaseDomains or OnDemand are set.
	Email string
	// CARoots are trusted for the CA's HTTPS API. Defaults to the system
	// roots; set it for a private CA.
	CARoots *x509.CertPool
	// Profile is the ACME profile to ask for (draft-aaron-acme-profiles),
	// e.g. "shortlived". Defaults to the CA's default profile.
	Profile string

	// DNSProvider publishes DNS-01 challenges. Required with BaseDomains.
	DNSProvider DNSProvider
	// DNSResolvers (host:port) are asked whether a challenge record is
	// visible before the CA is told to look. Defaults to the zone's
	// authoritative servers, found through the system resolver.
	DNSResolvers []string
	// PropagationTimeout bounds that wait. Defaults to 2 minutes; a
	// negative value skips the check.
	PropagationTimeout time.Duration

	// OnDemand enables certificates for tenants' own domains, obtained on
	// their first TLS handshake over TLS-ALPN-01 (or HTTP-01, see
	// [OnDemandConfig.HTTPChallenge]). Nil disables them.
	OnDemand *OnDemandConfig

	// EncryptionKey (32 bytes, see [LoadKey]) encrypts everything stored
	// in PostgreSQL, private keys included. Required unless
	// InsecurePlaintextStorage is set.
	EncryptionKey []byte
	// InsecurePlaintextStorage allows a nil EncryptionKey.
	InsecurePlaintextStorage bool

	// Files are certificates brought by the operator (see [CertbotFiles]),
	// served as they are, never renewed, and reloaded when they change on
	// disk.
	Files []CertFiles
	// ReloadInterval is how often Files and certificates imported into the
	// database ([Manager.Import]) are checked for changes. Defaults to 1
	// minute.
	ReloadInterval time.Duration

	// RenewCheckInterval is how often certificates are checked for
	// renewal. Defaults to 10 minutes.
	RenewCheckInterval time.Duration
	// RenewalWindowRatio is the part of a certificate's lifetime, at its
	// end, in which it is renewed when the CA gives no renewal window
	// through ARI. Defaults to 1/3.
	RenewalWindowRatio float64
	// LockPollInterval is how often an instance waiting for another
	// instance's lock (see [Storage]) checks again. Defaults to 1 second.
	LockPollInterval time.Duration

	// Logger defaults to slog.Default(). certmagic's logs are bridged to
	// it with the attribute component=certmagic.*.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	acme := len(c.BaseDomains) > 0 || c.OnDemand != nil
	if acme && c.Email == "" {
		errs = append(errs, errors.New("email is required for ACME"))
	}
	if len(c.BaseDomains) > 0 && c.DNSProvider == nil {
		errs = append(errs, errors.New("a DNS provider is required for base domain certificates (DNS-01)"))
	}
	for _, b := range c.BaseDomains {
		if b == "" || strings.HasPrefix(b, "*") || strings.Contains(b, "/") || !strings.Contains(strings.Trim(b, "."), ".") {
			errs = append(errs, fmt.Errorf("base domain %q: want a domain name such as example.com", b))
		}
	}
	if c.OnDemand != nil && c.OnDemand.AllowFunc == nil {
		errs = append(errs, errors.New("on-demand certificates need an AllowFunc"))
	}
	if c.OnDemand != nil && c.OnDemand.DisableTLSALPN && !c.OnDemand.HTTPChallenge {
		errs = append(errs, errors.New("on-demand certificates need a challenge: DisableTLSALPN is set without HTTPChallenge"))
	}
	if c.EncryptionKey == nil && !c.InsecurePlaintextStorage {
		errs = append(errs, errors.New("an encryption key is required (or set InsecurePlaintextStorage)"))
	}
	if c.EncryptionKey != nil && len(c.EncryptionKey) != 32 {
		errs = append(errs, fmt.Errorf("encryption key: got %d bytes, want 32", len(c.EncryptionKey)))
	}
	return errors.Join(errs...)
}

// Manager obtains, renews, stores and serves TLS certificates: wildcard
// and apex certificates for the base domains, on-demand certificates for
// tenants' verified custom domains, and certificate files brought by the
// operator. Several instances sharing one database share certificates,
// and only one of them talks to the CA for a given name.
type Manager struct {
	cfg     Config
	logger  *slog.Logger
	storage *Storage
	cache   *certmagic.Cache
	dns     *certmagic.Config // base domains, DNS-01
	od      *certmagic.Config // custom domains, on demand, TLS-ALPN-01; nil if disabled
	odIss   *certmagic.ACMEIssuer
	bases   []string
	limits  *limiters

	mu       sync.Mutex
	files    map[string]loadedFile // by cert path or storage key
	stop     context.CancelFunc
	wg       sync.WaitGroup
	started  bool
	stopOnce sync.Once
}

// New returns a Manager storing its state through pool. It returns every
// configuration problem at once.
func New(pool *pgxpool.Pool, cfg *Config) (*Manager, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("condocert: %w", err)
	}
	c.CA = cmp.Or(c.CA, LetsEncryptProduction)
	c.ReloadInterval = cmp.Or(c.ReloadInterval, time.Minute)
	c.PropagationTimeout = cmp.Or(c.PropagationTimeout, 2*time.Minute)
	c.RenewCheckInterval = cmp.Or(c.RenewCheckInterval, 10*time.Minute)
	c.RenewalWindowRatio = cmp.Or(c.RenewalWindowRatio, 1.0/3)
	m := &Manager{cfg: c, logger: cmp.Or(c.Logger, slog.Default()), files: map[string]loadedFile{}}
	for _, b := range c.BaseDomains {
		m.bases = append(m.bases, strings.ToLower(strings.Trim(b, ".")))
	}
	var err error
	m.storage, err = NewStorage(pool, &StorageConfig{
		EncryptionKey:    c.EncryptionKey,
		LockPollInterval: c.LockPollInterval,
		Logger:           m.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("condocert: %w", err)
	}
	zl := zapToSlog(m.logger)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(cert certmagic.Certificate) (*certmagic.Config, error) { return m.configFor(cert.Names), nil },
		RenewCheckInterval: c.RenewCheckInterval,
		Logger:             zl,
	})
	base := certmagic.Config{
		RenewalWindowRatio: c.RenewalWindowRatio,
		Storage:            m.storage,
		Logger:             zl,
		OnEvent:            m.onEvent,
	}
	issuer := certmagic.ACMEIssuer{
		CA:           c.CA,
		Email:        c.Email,
		Agreed:       true,
		TrustedRoots: c.CARoots,
		Profile:      c.Profile,
		Logger:       zl,
	}

	dnsCfg := base
	m.dns = certmagic.New(m.cache, dnsCfg)
	dnsIss := issuer
	dnsIss.DisableHTTPChallenge = true
	dnsIss.DisableTLSALPNChallenge = true
	if c.DNSProvider != nil {
		dnsIss.DNS01Solver = &dnsSolver{p: c.DNSProvider, resolvers: c.DNSResolvers, timeout: c.PropagationTimeout, logger: m.logger}
	}
	m.dns.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.dns, dnsIss)}

	if od := c.OnDemand; od != nil {
		m.limits = newLimiters(od)
		odCfg := base
		odCfg.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide}
		m.od = certmagic.New(m.cache, odCfg)
		odIss := issuer
		odIss.DisableHTTPChallenge = !od.HTTPChallenge
		odIss.DisableTLSALPNChallenge = od.DisableTLSALPN
		odIss.AltTLSALPNPort = od.TLSALPNPort
		odIss.AltHTTPPort = od.HTTPPort
		m.odIss = certmagic.NewACMEIssuer(m.od, odIss)
		m.od.Issuers = []certmagic.Issuer{m.odIss}
	}
	return m, nil
}

// onEvent turns certmagic's events into Condo's log lines: one per
// issuance, and one per failed attempt (attempts follow certmagic's
// back-off: 1 min, 2 min, … up to 6 h between them).
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtained":
		m.logger.LogAttrs(ctx, slog.LevelInfo, "certificate obtained",
			slog.String("host", name), slog.Bool("renewal", renewal))
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := "certificate issuance failed"
		attrs := []slog.Attr{slog.String("host", name)}
		if renewal {
			msg = "certificate renewal failed; still serving the current certificate"
			if d, ok := data["remaining"].(time.Duration); ok {
				attrs = append(attrs, slog.Duration("remaining", d.Round(time.Second)))
			}
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		m.logger.LogAttrs(ctx, slog.LevelError, msg, attrs...)
	}
	return nil
}

// Storage returns the Manager's storage.
func (m *Manager) Storage() *Storage { return m.storage }

// underBase reports whether name is a base domain or directly under one
// (a name the base domain's wildcard could cover).
func (m *Manager) underBase(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	name = strings.TrimPrefix(name, "*.")
	for _, b := range m.bases {
		if name == b || strings.HasSuffix(name, "."+b) {
			return true
		}
	}
	return false
}

func (m *Manager) configFor(names []string) *certmagic.Config {
	if m.od == nil {
		return m.dns
	}
	for _, n := range names {
		if m.underBase(n) {
			return m.dns
		}
	}
	return m.od
}

// baseNames returns the names the Manager keeps certificates for.
func (m *Manager) baseNames() []string {
	var out []string
	for _, b := range m.bases {
		out = append(out, "*."+b, b)
	}
	return out
}

// Start loads the certificates in storage and on disk and starts
// obtaining the missing ones and renewing all of them in the background,
// so a server can start serving at once; [Manager.WaitReady] waits for
// the base domains' certificates. It returns an error if a certificate
// file cannot be loaded. The Manager runs until [Manager.Stop]; ctx is
// only used for starting.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("condocert: manager already started")
	}
	m.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = cancel
	m.mu.Unlock()

	if err := m.reloadFiles(ctx, true); err != nil {
		cancel()
		return err
	}
	if names := m.baseNames(); len(names) > 0 {
		if err := m.dns.ManageAsync(runCtx, names); err != nil {
			cancel()
			return fmt.Errorf("condocert: manage %s: %w", strings.Join(names, ", "), err)
		}
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.cfg.ReloadInterval)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				_ = m.reloadFiles(runCtx, false) // logged inside
			}
		}
	}()
	return nil
}

// WaitReady waits until every base domain's certificates are being
// served, or ctx is done.
func (m *Manager) WaitReady(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		missing := ""
		for _, n := range m.baseNames() {
			if len(m.cache.AllMatchingCertificates(n)) == 0 {
				missing = n
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condocert: waiting for a certificate for %s: %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}

// Stop stops renewals and reloads, waits for background work to end and
// releases the Manager's cluster locks. Certificates already served keep
// being served by a [tls.Config] from [Manager.TLSConfig], but are no
// longer renewed.
func (m *Manager) Stop(ctx context.Context) error {
	var err error
	m.stopOnce.Do(func() {
		m.mu.Lock()
		if m.stop != nil {
			m.stop()
		}
		m.mu.Unlock()
		m.wg.Wait()
		m.cache.Stop()
		err = m.storage.Close(ctx)
	})
	return err
}

// TLSConfig returns a tls.Config serving the Manager's certificates:
// names under a base domain get the wildcard (or apex) certificate, other
// names an on-demand certificate if they are allowed one, and any name a
// certificate file or imported certificate covers gets that. NextProtos
// offers h2, http/1.1 and acme-tls/1 (for TLS-ALPN-01 challenges).
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: m.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
	}
}

// GetCertificate chooses the certificate for a TLS handshake; it is
// [Manager.TLSConfig]'s GetCertificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.od == nil || m.underBase(hello.ServerName) {
		return m.dns.GetCertificate(hello)
	}
	// Custom domains and TLS-ALPN-01 challenges (served from any Config).
	return m.od.GetCertificate(hello)
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges (when
// [OnDemandConfig.HTTPChallenge] is set) and passes other requests to
// next. Serve it on port 80.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	if m.odIss == nil {
		return next
	}
	return m.odIss.HTTPChallengeHandler(next)
}

// Obtain obtains certificates for names over DNS-01 (so they need not
// point at this server yet) unless storage already has them, and starts
// serving them. Without names it obtains the base domains' certificates.
func (m *Manager) Obtain(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		names = m.baseNames()
	}
	var errs []error
	for _, n := range names {
		if err := m.dns.ObtainCertSync(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("obtain %s: %w", n, err))
			continue
		}
		if err := m.swap(ctx, m.dns, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// swap loads name's certificate from storage into memory and drops the
// managed certificates with the same names it replaces.
func (m *Manager) swap(ctx context.Context, cfg *certmagic.Config, name string) error {
	cert, err := cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	var old []string
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Hash() != cert.Hash() && slices.Equal(c.Names, cert.Names) && !isOperatorCert(c) {
			old = append(old, c.Hash())
		}
	}
	m.cache.Remove(old)
	return nil
}

// isOperatorCert reports whether c came from a file, an import or
// AddCertificate rather than from a CA through this Manager.
func isOperatorCert(c certmagic.Certificate) bool {
	for _, t := range c.Tags {
		if strings.HasPrefix(t, "condo:") {
			return true
		}
	}
	return false
}

// Renew renews the certificates of names (default: the base domains')
// that are due for renewal, or all of them if force is set, and serves the
// new ones.
func (m *Manager) Renew(ctx context.Context, force bool, names ...string) error {
	if len(names) == 0 {
		names = m.baseNames()
	}
	var errs []error
	for _, n := range names {
		cfg := m.configFor([]string{n})
		if err := cfg.RenewCertSync(ctx, n, force); err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", n, err))
			continue
		}
		if err := m.swap(ctx, cfg, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Revocation reasons of RFC 5280 for [Manager.Revoke].
const (
	ReasonUnspecified   = 0
	ReasonKeyCompromise = 1
	ReasonSuperseded    = 4
	ReasonCessation     = 5
)

// Revoke revokes the certificate of name with the CA and deletes it from
// storage.
func (m *Manager) Revoke(ctx context.Context, name string, reason int) error {
	cfg := m.configFor([]string{name})
	// certmagic's revocation path does not set up the account's e-mail
	// (issuance does, in PreCheck); without it, it would register a new,
	// empty account that does not own the certificate.
	for _, iss := range cfg.Issuers {
		if a, ok := iss.(*certmagic.ACMEIssuer); ok {
			if err := a.PreCheck(ctx, []string{name}, false); err != nil {
				return fmt.Errorf("revoke %s: %w", name, err)
			}
		}
	}
	if err := cfg.RevokeCert(ctx, name, reason, true); err != nil {
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	return nil
}

// CertInfo describes a stored certificate.
type CertInfo struct {
	// Names are the certificate's DNS names.
	Names []string
	// Source is "acme" for certificates from a CA, "imported" for
	// certificates imported with [Manager.Import].
	Source string
	// Issuer is the issuer's common name.
	Issuer    string
	Serial    string
	NotBefore time.Time
	NotAfter  time.Time
	// Key is the storage key of the certificate.
	Key string
}

// List returns the certificates in storage, sorted by first name.
func (m *Manager) List(ctx context.Context) ([]CertInfo, error) {
	var out []CertInfo
	for _, prefix := range []string{"certificates", importPrefix} {
		keys, err := m.storage.List(ctx, prefix, true)
		if err != nil {
			if errors.Is(err, errNotExist) {
				continue
			}
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		for _, k := range keys {
			if !strings.HasSuffix(k, ".crt") {
				continue
			}
			b, err := m.storage.Load(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("list certificates: %w", err)
			}
			leaf, err := firstCert(b)
			if err != nil {
				return nil, fmt.Errorf("list certificates: %s: %w", k, err)
			}
			src := "acme"
			if prefix == importPrefix {
				src = "imported"
			}
			out = append(out, CertInfo{
				Names: leaf.DNSNames, Source: src, Issuer: leaf.Issuer.CommonName,
				Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Key: k,
			})
		}
	}
	slices.SortFunc(out, func(a, b CertInfo) int {
		return cmp.Compare(strings.Join(a.Names, ","), strings.Join(b.Names, ","))
	})
	return out, nil
}
