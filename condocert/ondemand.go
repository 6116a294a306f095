package condocert

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/condo-dev/condo"
	"golang.org/x/time/rate"
)

// Errors of on-demand decisions. A refused handshake fails; the CA is not
// contacted.
var (
	// ErrHostNotAllowed is returned by [RegistryAllow]'s AllowFunc for a
	// host that is not a verified custom domain of an active tenant.
	ErrHostNotAllowed = errors.New("condocert: host is not a verified custom domain of an active tenant")
	// ErrRateLimited refuses a decision because the client or the tenant
	// asked for too many certificates recently.
	ErrRateLimited = errors.New("condocert: too many certificate requests")
)

// AllowFunc decides whether host (lower case, punycode) may get a
// certificate on demand. It returns the key the request counts against
// for rate limiting, usually the tenant (several hosts may share one), or
// an error to refuse.
type AllowFunc func(ctx context.Context, host string) (tenant string, err error)

// OnDemandConfig configures certificates for tenants' own domains.
type OnDemandConfig struct {
	// AllowFunc is asked before a certificate is loaded or obtained for a
	// name that is not in memory. Required; see [RegistryAllow].
	AllowFunc AllowFunc
	// ClientRate and ClientBurst limit how many such decisions one client
	// IP address may cause. Default to one per 10 seconds, burst 20.
	ClientRate  time.Duration
	ClientBurst int
	// TenantRate and TenantBurst limit decisions per tenant (the key
	// AllowFunc returns). Default to one per minute, burst 10.
	TenantRate  time.Duration
	TenantBurst int
	// TLSALPNPort is the port the server's TLS listener has, where the CA
	// connects for TLS-ALPN-01 (443 unless a proxy forwards another).
	// Defaults to 443.
	TLSALPNPort int
	// HTTPChallenge also allows HTTP-01 challenges, which need
	// [Manager.HTTPChallengeHandler] served on HTTPPort.
	HTTPChallenge bool
	// HTTPPort is the port where the CA reaches
	// [Manager.HTTPChallengeHandler] for HTTP-01. Defaults to 80.
	HTTPPort int
	// DisableTLSALPN leaves only HTTP-01 (HTTPChallenge must be set), for
	// servers whose TLS port the CA cannot reach with the acme-tls/1
	// protocol, e.g. behind a load balancer that terminates TLS or drops
	// ALPN.
	DisableTLSALPN bool
}

// RegistryAllow returns an AllowFunc allowing the custom domains of reg
// that are verified and belong to an active tenant
// ([condo.Registry.ActiveDomainTenant]); the tenant's id is the
// rate-limiting key. Other hosts get [ErrHostNotAllowed].
func RegistryAllow(reg *condo.Registry) AllowFunc {
	return func(ctx context.Context, host string) (string, error) {
		id, err := reg.ActiveDomainTenant(ctx, host)
		if errors.Is(err, condo.ErrDomainNotFound) {
			return "", ErrHostNotAllowed
		}
		if err != nil {
			return "", fmt.Errorf("look up domain %q: %w", host, err)
		}
		return strconv.FormatInt(id, 10), nil
	}
}

// limiters are token buckets by key, dropped once full again.
type limiters struct {
	client, tenant *keyedLimiter
}

func newLimiters(c *OnDemandConfig) *limiters {
	return &limiters{
		client: &keyedLimiter{every: cmp.Or(c.ClientRate, 10*time.Second), burst: cmp.Or(c.ClientBurst, 20), m: map[string]*rate.Limiter{}},
		tenant: &keyedLimiter{every: cmp.Or(c.TenantRate, time.Minute), burst: cmp.Or(c.TenantBurst, 10), m: map[string]*rate.Limiter{}},
	}
}

type keyedLimiter struct {
	every time.Duration
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func (k *keyedLimiter) allow(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= 10000 {
		// Forget keys whose bucket is full: they are as good as new.
		now := time.Now()
		for key, l := range k.m {
			if l.TokensAt(now) >= float64(k.burst) {
				delete(k.m, key)
			}
		}
	}
	l, ok := k.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(k.every), k.burst)
		k.m[key] = l
	}
	return l.Allow()
}

func clientIP(ctx context.Context) string {
	hello, ok := ctx.Value(certmagic.ClientHelloInfoCtxKey).(*tls.ClientHelloInfo)
	if !ok || hello.Conn == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(hello.Conn.RemoteAddr().String())
	if err != nil {
		return hello.Conn.RemoteAddr().String()
	}
	return host
}

// decide is certmagic's DecisionFunc: client limit first (it costs no
// query), then the AllowFunc, then the tenant limit.
func (m *Manager) decide(ctx context.Context, name string) error {
	ip := clientIP(ctx)
	if ip != "" && !m.limits.client.allow(ip) {
		m.logger.LogAttrs(ctx, slog.LevelDebug, "on-demand certificate refused: client rate limit",
			slog.String("host", name), slog.String("client", ip))
		return ErrRateLimited
	}
	tenant, err := m.cfg.OnDemand.AllowFunc(ctx, name)
	if err != nil {
		m.logger.LogAttrs(ctx, slog.LevelDebug, "on-demand certificate refused",
			slog.String("host", name), slog.String("client", ip), slog.String("error", err.Error()))
		return err
	}
	if !m.limits.tenant.allow(cmp.Or(tenant, name)) {
		m.logger.LogAttrs(ctx, slog.LevelWarn, "on-demand certificate refused: tenant rate limit",
			slog.String("host", name), slog.String("tenant", tenant))
		return ErrRateLimited
	}
	return nil
}
