package condocli

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
)

// ServeLong is the help text of an application's serve command that uses
// [ServeFlags].
const ServeLong = `Serve the application: every subdomain of a base domain is a tenant, the
base domain itself and www are the public site, tenants' verified custom
domains go to their tenant, and anything else gets 404.

Every flag has an environment variable (shown in brackets) for containers.
The server stops gracefully on SIGTERM or SIGINT: it stops accepting, lets
requests in flight finish (up to --shutdown-timeout) and exits 0.

Behind a reverse proxy, pass its address with --trusted-proxy so that its
X-Forwarded-* headers are believed (see "proxy-config"; --forwarded-headers
chooses RFC 7239 Forwarded instead); without it they are ignored. Without a proxy, give --https and the server listens on both ports
and redirects HTTP to HTTPS.

When the database cannot be reached at start, serve retries with back-off
(logging each try) for up to --db-wait, answering /readyz with 503 on the
HTTP port meanwhile. While serving, a database that goes away makes
requests fail fast with 503 and Retry-After (and /readyz 503) until it is
back; a tenant request waits at most --db-acquire-timeout for a connection
and a tenant statement runs at most --statement-timeout.`

// defaultDBConns is serve's pool size; dbConnsEnv sets another (doctor
// reads both to count the connections of a deployment).
const (
	defaultDBConns = condostack.DefaultPoolSize
	dbConnsEnv     = "CONDO_DB_CONNS"
)

// envInt is an integer environment variable, 0 when unset or not a number
// (serve reports one that is not a number).
func envInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// ServeFlags are serve's flags, each with a CONDO_* environment variable
// as its default, bound to a flag set by [CLI.ServeFlags]; [ServeFlags.Apply]
// writes them into a [condostack.Config]. An application's serve command
// uses them so that every deployment is configured the same way.
type ServeFlags struct {
	fs                               *pflag.FlagSet
	getenv                           func(string) string
	httpAddr, httpsAddr, metricsAddr string
	certFile, keyFile                string
	baseDomains, trustedProxies      []string
	pathPrefix, tenantHeader         string
	forwardedHeaders                 string
	redirect                         string
	h2c, noAccessLog                 bool
	shutdownTimeout                  time.Duration
	dbConns, tenantPools             int
	runtimeURL                       string
	runtimeShardURLs                 []string
	provisioners, pendingTenants     int
	roleReserve                      int
	statementTimeout, acquireTimeout time.Duration
	dbWait                           time.Duration
	moveGrace                        time.Duration
	cert                             *certFlags
}

// ServeFlags adds serve's flags to fs.
func (c *CLI) ServeFlags(fs *pflag.FlagSet) *ServeFlags {
	getenv := c.cfg.Getenv
	f := &ServeFlags{fs: fs, getenv: getenv, cert: &certFlags{}}
	env := func(name, def string) string { return cmp.Or(getenv(name), def) }
	list := func(name string, def ...string) []string {
		if v := getenv(name); v != "" {
			return strings.Split(v, ",")
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(name)); err == nil {
			return d
		}
		return def
	}
	fs.StringVar(&f.httpAddr, "http", env("CONDO_HTTP_ADDR", ":8080"), "plain-HTTP listen address [CONDO_HTTP_ADDR]")
	fs.StringVar(&f.httpsAddr, "https", env("CONDO_HTTPS_ADDR", ""), "HTTPS listen address, e.g. :443 (empty: no HTTPS) [CONDO_HTTPS_ADDR]")
	fs.StringVar(&f.certFile, "cert-file", env("CONDO_CERT_FILE", ""), "PEM certificate for HTTPS, e.g. a wildcard for the base domain [CONDO_CERT_FILE]")
	fs.StringVar(&f.keyFile, "key-file", env("CONDO_KEY_FILE", ""), "PEM private key of --cert-file [CONDO_KEY_FILE]")
	fs.StringSliceVar(&f.baseDomains, "base-domain", list("CONDO_BASE_DOMAINS", "localhost"), "base domain: slug.<base> is a tenant (repeatable) [CONDO_BASE_DOMAINS, comma-separated]")
	fs.StringSliceVar(&f.trustedProxies, "trusted-proxy", list("CONDO_TRUSTED_PROXIES"), `networks whose X-Forwarded-*/Forwarded headers are believed: CIDRs, addresses, "loopback", "private" [CONDO_TRUSTED_PROXIES]`)
	fs.StringVar(&f.forwardedHeaders, "forwarded-headers", env("CONDO_FORWARDED_HEADERS", "x-forwarded"), `the one header family believed from --trusted-proxy: "x-forwarded" (X-Forwarded-For/-Host/-Proto) or "forwarded" (RFC 7239); the other is removed [CONDO_FORWARDED_HEADERS]`)
	fs.StringVar(&f.metricsAddr, "metrics", env("CONDO_METRICS_ADDR", ""), "listen address of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9090 [CONDO_METRICS_ADDR]")
	fs.StringVar(&f.pathPrefix, "path-prefix", env("CONDO_PATH_PREFIX", ""), `also serve tenants at /<prefix>/<slug>/ on the public host, e.g. "/t/" (for set-ups without wildcard DNS) [CONDO_PATH_PREFIX]`)
	fs.StringVar(&f.tenantHeader, "tenant-header", env("CONDO_TENANT_HEADER", ""), "header naming the tenant slug, believed from trusted proxies only [CONDO_TENANT_HEADER]")
	fs.StringVar(&f.redirect, "redirect", env("CONDO_REDIRECT", "auto"), "redirect HTTP to HTTPS: auto (when --https is set), always (behind a TLS proxy), never [CONDO_REDIRECT]")
	fs.BoolVar(&f.h2c, "h2c", getenv("CONDO_H2C") != "", "also accept HTTP/2 without TLS (from a proxy) [CONDO_H2C]")
	fs.BoolVar(&f.noAccessLog, "no-access-log", getenv("CONDO_NO_ACCESS_LOG") != "", "do not log every request [CONDO_NO_ACCESS_LOG]")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", dur("CONDO_SHUTDOWN_TIMEOUT", 30*time.Second), "how long a shutdown waits for requests in flight [CONDO_SHUTDOWN_TIMEOUT]")
	fs.IntVar(&f.dbConns, "db-conns", cmp.Or(envInt(getenv(dbConnsEnv)), defaultDBConns), "database connections in the pool [CONDO_DB_CONNS]")
	fs.IntVar(&f.tenantPools, "tenant-pools", envInt(getenv("CONDO_TENANT_POOLS")), "split --db-conns more connections into this many tenant-affine pools for the app's tenant reads (condo.TenantPools; for thousands of tenants), 0: off [CONDO_TENANT_POOLS]")
	fs.StringVar(&f.runtimeURL, "runtime-database-url", env("CONDO_RUNTIME_DATABASE_URL", ""), "split roles: run tenant transactions, and the app's own shared-table queries (as ROLE_shared, with the app's declared grants), as this login role, which owns nothing (see runtime-grant); DATABASE_URL stays the owner, for signup, tenant changes and the rest. Empty: one role for everything, the weaker mode [CONDO_RUNTIME_DATABASE_URL]")
	fs.StringSliceVar(&f.runtimeShardURLs, "runtime-shard-url", list("CONDO_RUNTIME_SHARD_URLS"), "split roles over shards, for tens of thousands of tenants (instead of --runtime-database-url): URL K logs in as its own runtime role, which serves the tenants whose id % (number of URLs) = K on its own pool (repeatable; see runtime-grant --shards and doctor's tenant roles) [CONDO_RUNTIME_SHARD_URLS, comma-separated]")
	fs.IntVar(&f.provisioners, "provisioners", envInt(getenv("CONDO_PROVISIONERS")), "make sure this many provisioning roles create the tenant roles, so that none administers more than its share (see runtime-grant --provisioners); 0: leave them as they are [CONDO_PROVISIONERS]")
	fs.DurationVar(&f.statementTimeout, "statement-timeout", dur("CONDO_STATEMENT_TIMEOUT", 30*time.Second), "cancel a tenant query running longer than this, answered 503 (set per transaction, so it works behind a pooler); 0: the server's setting [CONDO_STATEMENT_TIMEOUT]")
	fs.DurationVar(&f.acquireTimeout, "db-acquire-timeout", dur("CONDO_DB_ACQUIRE_TIMEOUT", 3*time.Second), "how long a tenant request waits for a free database connection before it is answered 503; 0: as long as the client waits [CONDO_DB_ACQUIRE_TIMEOUT]")
	fs.DurationVar(&f.moveGrace, "move-grace", dur("CONDO_MOVE_GRACE", condo.DefaultMoveGrace), "keep the fenced old copy of a tenant moved between tiers this long, then drop it (one instance drops each); negative: never (tenants cleanup-moves) [CONDO_MOVE_GRACE]")
	fs.DurationVar(&f.dbWait, "db-wait", dur("CONDO_DB_WAIT", 5*time.Minute), "at start, how long to keep retrying a database that cannot be reached (answering /readyz 503 meanwhile); 0: until stopped [CONDO_DB_WAIT]")
	fs.IntVar(&f.pendingTenants, "pending-tenants", envInt(getenv("CONDO_PENDING_TENANTS")), "keep this many pending tenants (ready-made: schema, role, migrations) for signups to claim in one short transaction; instances sharing a database should agree; 0: no refill [CONDO_PENDING_TENANTS]")
	fs.IntVar(&f.roleReserve, "role-reserve", envInt(getenv("CONDO_ROLE_RESERVE")), "keep this many tenant roles made ahead, refilled in batches once half are taken, so a signup changes no role catalog (each change makes every runtime connection recompute its role memberships): for many tenants and signups while serving (README, Tenant roles at scale); not on Citus; 0: off [CONDO_ROLE_RESERVE]")
	f.cert.registerACME(fs)
	return f
}

// Apply checks the parsed flags and writes them into cfg: the edge
// (cfg.Serve), the pool sizes, timeouts, split roles and the database
// wait. It returns the first problem, naming its flag.
func (f *ServeFlags) Apply(cfg *condostack.Config) error {
	sc := &cfg.Serve
	switch f.redirect {
	case "auto", "":
		sc.Redirect = condohttp.RedirectAuto
	case "always":
		sc.Redirect = condohttp.RedirectAlways
	case "never":
		sc.Redirect = condohttp.RedirectNever
	default:
		return fmt.Errorf("--redirect: want auto, always or never, got %q", f.redirect)
	}
	trusted, err := condohttp.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	fwd, err := condohttp.ParseForwardedHeaders(f.forwardedHeaders)
	if err != nil {
		return fmt.Errorf("--forwarded-headers: %w", err)
	}
	if v := f.getenv("CONDO_TENANT_POOLS"); v != "" && !f.fs.Changed("tenant-pools") {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("CONDO_TENANT_POOLS: want a number, got %q", v)
		}
	}
	if v := f.getenv(dbConnsEnv); v != "" && !f.fs.Changed("db-conns") {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return fmt.Errorf("%s: want a number of connections, got %q", dbConnsEnv, v)
		}
	}
	if v := f.getenv("CONDO_PENDING_TENANTS"); v != "" && !f.fs.Changed("pending-tenants") {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("CONDO_PENDING_TENANTS: want a number of tenants, got %q", v)
		}
	}
	if v := f.getenv("CONDO_ROLE_RESERVE"); v != "" && !f.fs.Changed("role-reserve") {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("CONDO_ROLE_RESERVE: want a number of roles, got %q", v)
		}
	}
	if f.roleReserve < 0 {
		return fmt.Errorf("--role-reserve: want 0 (off) or more, got %d", f.roleReserve)
	}
	if f.pendingTenants < 0 {
		return fmt.Errorf("--pending-tenants: want 0 (off) or more, got %d", f.pendingTenants)
	}
	if f.tenantPools < 0 || f.tenantPools > f.dbConns {
		return fmt.Errorf("--tenant-pools: want 0 (off) to --db-conns (%d), got %d", f.dbConns, f.tenantPools)
	}
	// The pool is sized for serving rather than for migrations.
	cfg.PoolSize = max(cfg.PoolSize, f.dbConns)
	cfg.TenantPools = f.tenantPools
	cfg.RuntimeDatabaseURL = f.runtimeURL
	cfg.RuntimeShardURLs = f.runtimeShardURLs
	cfg.Provisioners = f.provisioners
	cfg.PendingTenants = f.pendingTenants
	cfg.RoleReserve = f.roleReserve
	cfg.MoveGrace = f.moveGrace
	if cfg.MoveGrace == 0 {
		cfg.MoveGrace = time.Nanosecond // the flag's 0 is "at once"; the config's 0 is the default
	}
	cfg.StatementTimeout, cfg.AcquireTimeout = f.statementTimeout, f.acquireTimeout
	cfg.DBWait = f.dbWait
	if cfg.DBWait == 0 {
		cfg.DBWait = -1 // the flag's 0 is "until stopped"
	}
	sc.HTTPAddr, sc.HTTPSAddr, sc.MetricsAddr = f.httpAddr, f.httpsAddr, f.metricsAddr
	sc.BaseDomains = f.baseDomains
	sc.PathPrefix, sc.TenantHeader = f.pathPrefix, f.tenantHeader
	sc.TrustedProxies, sc.ForwardedHeaders = trusted, fwd
	sc.H2C, sc.DisableAccessLog = f.h2c, f.noAccessLog
	sc.ShutdownTimeout = f.shutdownTimeout
	switch {
	case f.httpsAddr == "":
	case f.cert.acme() || len(f.cert.certbot) > 0 || f.certFile != "":
		// Condo's certificate manager: ACME for the base domains and
		// tenants' custom domains, and files reloaded when they change.
		cc, err := f.certConfig()
		if err != nil {
			return fmt.Errorf("https: %w", err)
		}
		sc.Certs = cc
	case sc.TLSConfig != nil:
		// The application's own (a development CA).
	default:
		return fmt.Errorf("--https needs certificates: --acme-email with --dns-provider, --cert-file and --key-file, or --certbot DOMAIN")
	}
	return nil
}

// certConfig is condocert's configuration for serve: the wildcard and
// apex certificates of the base domains over DNS-01 when ACME is
// configured, on-demand certificates for tenants' verified custom domains,
// and the certificate files of --cert-file and --certbot.
func (f *ServeFlags) certConfig() (*condocert.Config, error) {
	cf := *f.cert
	cf.certFile, cf.certKeyFile = f.certFile, f.keyFile
	if cf.acme() {
		for _, b := range f.baseDomains {
			b, err := condo.NormalizeHost(b)
			// localhost has no public certificate; dev serves it from its CA.
			if err == nil && b != "localhost" && !strings.HasSuffix(b, ".localhost") {
				cf.baseDomains = append(cf.baseDomains, b)
			}
		}
	}
	return cf.config(f.getenv)
}
