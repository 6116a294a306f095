package condo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"
)

// RouteKind says what a host is.
type RouteKind uint8

// Route kinds. See [Resolver.Resolve].
const (
	// RouteUnknown: no site is here (404). Deleted tenants resolve to it.
	RouteUnknown RouteKind = iota
	// RoutePublic: a base domain itself or one of its public labels ("www").
	RoutePublic
	// RouteTenant: an active tenant, by subdomain or custom domain.
	RouteTenant
	// RouteSuspended: a suspended tenant. Served a page of its own.
	RouteSuspended
	// RouteReserved: a reserved label of a base domain ("admin.example.com").
	RouteReserved
)

func (k RouteKind) String() string {
	switch k {
	case RoutePublic:
		return "public"
	case RouteTenant:
		return "tenant"
	case RouteSuspended:
		return "suspended"
	case RouteReserved:
		return "reserved"
	}
	return "unknown"
}

// Route is where a host leads.
type Route struct {
	Kind RouteKind
	// Host is the normalised host.
	Host string
	// Base is the base domain the host is under, or "" for a custom domain.
	Base string
	// Label is the reserved or public label ("admin", "www"), or the slug the
	// host named.
	Label string
	// Tenant is set for RouteTenant and RouteSuspended. It is shared with the
	// cache: treat it as read-only.
	Tenant *Tenant
}

// ResolverConfig configures a [Resolver]. A nil *ResolverConfig is valid
// but resolves custom domains only.
type ResolverConfig struct {
	// BaseDomains are the platform's domains, such as "example.com": the
	// domain itself and its PublicLabels serve the public site, "slug.base"
	// is a tenant, and deeper names ("a.b.base") are nothing. Other hosts are
	// looked up among tenants' verified custom domains. One-label domains
	// such as "localhost" are allowed, for development.
	BaseDomains []string
	// PublicLabels are the labels of a base domain that serve the public
	// site. Defaults to ["www"].
	PublicLabels []string
	// Reserved labels of a base domain are never tenants: they route to
	// the edge's reserved handlers (condohttp.Handlers) or get a 404.
	// Defaults to the registry's reserved labels.
	Reserved []string
	// CacheSize is the most hosts (found or not) kept in memory. Negative
	// disables the cache. Zero (the default) sizes it to the tenants: each
	// preload (Start, and every reconnect of the listener) makes room for
	// every tenant's slug and verified custom domain plus a quarter, twice
	// over (the cache keeps two generations), and at least 100,000 hosts. A
	// fixed size below the number of tenants makes a share of the requests
	// cost a query each, as long as the traffic is spread over them all.
	CacheSize int
	// TTL bounds how long a found tenant is cached, as a safety net behind
	// LISTEN/NOTIFY invalidation. Defaults to 5 minutes.
	TTL time.Duration
	// NegativeTTL bounds how long "no such host" is cached. Defaults to
	// 1 minute.
	NegativeTTL time.Duration
	// PathPrefix, when set (such as "/t/"), also routes "/t/slug/..." on a
	// public host to tenant slug with the prefix and slug removed from the
	// path: for set-ups without wildcard DNS.
	PathPrefix string
	// TenantHeader, when set (such as "X-Condo-Tenant"), routes a request
	// that carries it to the tenant it names by slug, but only when the
	// request came from a trusted proxy (condohttp's
	// ServerConfig.TrustedProxies); from anyone else the header is ignored.
	TenantHeader string
	// ListenConnConfig is how the change listener connects. LISTEN needs
	// a session, which a transaction pooler does not keep, so behind one
	// give a direct connection's settings (condocli's
	// --direct-database-url). Defaults to the registry pool's.
	ListenConnConfig *pgx.ConnConfig
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Resolver maps hosts to tenants: subdomains of the base domains by slug,
// other hosts by verified custom domain. Lookups are cached, including
// misses, and the cache is kept right by listening on [NotifyChannel]:
// every registry change made by any process evicts the hosts it affects.
// While the listener is not connected (before [Resolver.Start], or while it
// reconnects) the cache is not used, so a stale answer is never served;
// concurrent lookups of one host still share one query.
//
// Routing cost does not depend on the number of tenants: a cached host is
// one map lookup, a miss one indexed query. Start (and every reconnect of
// the listener) preloads the tenants into the cache in one query, so a
// restarted instance does not meet its first requests with one query each.
type Resolver struct {
	reg      *Registry
	bases    []string // longest first
	public   map[string]bool
	reserved map[string]bool
	prefix   string
	header   string
	listenCC *pgx.ConnConfig // nil: the registry pool's
	ttl      int64           // nanoseconds
	negTTL   int64
	logger   *slog.Logger

	cache *hostCache
	// autoSize: the cache grows at each preload to hold every tenant
	// (ResolverConfig.CacheSize zero), a generation at least minGen.
	autoSize bool
	minGen   int
	group    singleflight.Group
	listen   atomic.Bool // listener connected: the cache may be used

	stats resolverStats

	mu   sync.Mutex // guards stop, done
	stop context.CancelFunc
	done chan struct{}
}

type resolverStats struct {
	hits, misses, queries, notifications, reconnects atomic.Uint64
}

// NewResolver returns a resolver over reg. It returns a [*NameError]
// (joined) for each base domain that is not a valid host name.
func NewResolver(reg *Registry, cfg *ResolverConfig) (*Resolver, error) {
	if reg == nil {
		panic("condo: NewResolver needs a registry")
	}
	if cfg == nil {
		cfg = &ResolverConfig{}
	}
	var errs []error
	var bases []string
	for _, b := range cfg.BaseDomains {
		h, reason := normalizeHost(b, 1)
		if reason != "" {
			errs = append(errs, &NameError{Kind: "base domain", Name: b, Reason: reason})
			continue
		}
		bases = append(bases, h)
	}
	slices.SortFunc(bases, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	prefix := cfg.PathPrefix
	if prefix != "" {
		if !strings.HasPrefix(prefix, "/") || prefix == "/" {
			errs = append(errs, fmt.Errorf("path prefix %q must start with / and name a segment", prefix))
		}
		prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Resolver{
		reg:      reg,
		bases:    slices.Compact(bases),
		prefix:   prefix,
		header:   cfg.TenantHeader,
		listenCC: cfg.ListenConnConfig,
		ttl:      int64(cmp.Or(cfg.TTL, 5*time.Minute)),
		negTTL:   int64(cmp.Or(cfg.NegativeTTL, time.Minute)),
		logger:   cmp.Or(cfg.Logger, slog.Default()),
	}
	public, reserved := cfg.PublicLabels, cfg.Reserved
	if public == nil {
		public = []string{"www"}
	}
	if reserved == nil {
		reserved = reg.Reserved()
	}
	r.public, r.reserved = map[string]bool{}, map[string]bool{}
	for _, l := range public {
		r.public[l] = true
	}
	for _, l := range reserved {
		r.reserved[l] = true
	}
	r.autoSize, r.minGen = cfg.CacheSize == 0, defaultCacheSize/2
	if size := cmp.Or(cfg.CacheSize, defaultCacheSize); size > 0 {
		r.cache = newHostCache(size)
	}
	return r, nil
}

// BaseDomains returns the normalised base domains, longest first.
func (r *Resolver) BaseDomains() []string { return slices.Clone(r.bases) }

// TenantHeader returns [ResolverConfig].TenantHeader: the request header
// that names a tenant by slug when a trusted proxy sends it, "" for none.
// An HTTP edge believes it only from trusted proxies and removes it from
// everyone else's requests.
func (r *Resolver) TenantHeader() string { return r.header }

// PathPrefix returns [ResolverConfig].PathPrefix, normalised to end in
// "/", or "" for none.
func (r *Resolver) PathPrefix() string { return r.prefix }

// Logger returns the resolver's logger, for an edge that logs failed
// lookups next to the resolver's own lines.
func (r *Resolver) Logger() *slog.Logger { return r.logger }

// Resolve says where host (a Host header: any case, port, trailing dot or
// Unicode) leads. It returns a [*NameError] when host is not a valid host
// name, [ErrUnknownHost] (with a RouteUnknown route) when it names no site:
// an unknown or deleted tenant, a deeper name under a base domain, an IP
// address, or a host that is neither under a base domain nor a verified
// custom domain. Other errors come from the database.
func (r *Resolver) Resolve(ctx context.Context, host string) (Route, error) {
	if isIP(host) {
		return Route{Kind: RouteUnknown}, ErrUnknownHost
	}
	h, reason := normalizeHost(host, 1)
	if reason != "" {
		return Route{}, &NameError{Kind: "host", Name: host, Reason: reason}
	}
	for _, base := range r.bases {
		if h == base {
			return Route{Kind: RoutePublic, Host: h, Base: base}, nil
		}
		if len(h) > len(base)+1 && h[len(h)-len(base)-1] == '.' && strings.HasSuffix(h, base) {
			label := h[:len(h)-len(base)-1]
			if strings.IndexByte(label, '.') >= 0 {
				return Route{Kind: RouteUnknown, Host: h, Base: base}, ErrUnknownHost
			}
			if r.public[label] {
				return Route{Kind: RoutePublic, Host: h, Base: base, Label: label}, nil
			}
			if r.reserved[label] {
				return Route{Kind: RouteReserved, Host: h, Base: base, Label: label}, nil
			}
			return r.resolveSlug(ctx, h, base, label)
		}
	}
	if strings.IndexByte(h, '.') < 0 {
		// A one-label host that is not a base domain cannot be a custom
		// domain (NormalizeHost requires two labels).
		return Route{Kind: RouteUnknown, Host: h}, ErrUnknownHost
	}
	t, err := r.lookup(ctx, cacheKey{host: true, name: h})
	return route(h, "", "", t, err)
}

// ResolveSlug resolves a tenant by slug, as the subdomain of a base domain
// would. Returns [ErrUnknownHost] for an unknown or deleted tenant and for
// a slug that is reserved or not valid.
func (r *Resolver) ResolveSlug(ctx context.Context, slug string) (Route, error) {
	return r.resolveSlug(ctx, "", "", slug)
}

func (r *Resolver) resolveSlug(ctx context.Context, host, base, slug string) (Route, error) {
	if r.reserved[slug] || r.public[slug] || ValidateSlug(slug, nil) != nil {
		// Not a name any tenant can have (e.g. "xn--..." or "a--b"): no query.
		return Route{Kind: RouteUnknown, Host: host, Base: base}, ErrUnknownHost
	}
	t, err := r.lookup(ctx, cacheKey{name: slug})
	return route(host, base, slug, t, err)
}

func route(host, base, label string, t *Tenant, err error) (Route, error) {
	rt := Route{Host: host, Base: base, Label: label}
	if err != nil {
		return rt, err
	}
	switch {
	case t == nil || t.Status == StatusDeleted || t.Status == StatusPending:
		return rt, ErrUnknownHost
	case t.Status == StatusSuspended:
		rt.Kind, rt.Tenant = RouteSuspended, t
	default:
		rt.Kind, rt.Tenant = RouteTenant, t
	}
	return rt, nil
}

// lookup returns the tenant for a key, nil when there is none.
func (r *Resolver) lookup(ctx context.Context, k cacheKey) (*Tenant, error) {
	useCache := r.cache != nil && r.listen.Load()
	now := time.Now().UnixNano()
	if useCache {
		if t, ok := r.cache.get(k, now); ok {
			r.stats.hits.Add(1)
			return t, nil
		}
	}
	r.stats.misses.Add(1)
	sfKey := k.name
	if k.host {
		sfKey = "h:" + sfKey
	}
	v, err, _ := r.group.Do(sfKey, func() (any, error) {
		// The generation is read before the query: if a notification
		// arrives while it runs, the answer may predate the change and is
		// not cached.
		gen := r.cacheGen()
		r.stats.queries.Add(1)
		// A cancelled request must not fail the other requests sharing
		// this lookup.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var t *Tenant
		var err error
		if k.host {
			t, err = r.reg.GetByHost(qctx, k.name)
		} else {
			t, err = r.reg.Get(qctx, k.name)
		}
		if errors.Is(err, ErrTenantNotFound) {
			t, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", k.name, err)
		}
		if useCache && r.listen.Load() {
			ttl := r.ttl
			if t == nil {
				ttl = r.negTTL
			}
			r.cache.put(k, t, time.Now().UnixNano()+ttl, gen)
		}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	t, _ := v.(*Tenant)
	return t, nil
}

// ResolverStats are counters of a [Resolver] since it was made.
type ResolverStats struct {
	Hits, Misses, Queries, Notifications, Reconnects uint64
	Entries                                          int
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() ResolverStats {
	s := ResolverStats{
		Hits:          r.stats.hits.Load(),
		Misses:        r.stats.misses.Load(),
		Queries:       r.stats.queries.Load(),
		Notifications: r.stats.notifications.Load(),
		Reconnects:    r.stats.reconnects.Load(),
	}
	if r.cache != nil {
		s.Entries = r.cache.len()
	}
	return s
}
