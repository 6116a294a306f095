package condostack

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
)

// DefaultPoolSize is [Config].PoolSize's default: serve's connections.
const DefaultPoolSize = 20

// Config is everything a [Stack] is built from. Only DatabaseURL is
// required.
type Config struct {
	// DatabaseURL is the owner role's connection string: it owns the
	// schemas and shared tables; it may go through a pooler such as
	// PgBouncer. Required.
	DatabaseURL string
	// DirectDatabaseURL connects straight to PostgreSQL, for what needs a
	// session: the migrator (its lock, long DDL) and the resolver's
	// LISTEN. Needed behind a transaction pooler; optional otherwise.
	DirectDatabaseURL string
	// RuntimeDatabaseURL, when set, splits the roles: tenant transactions
	// and the application's shared-table queries ([Stack].SharedPool, as
	// ROLE_shared with RuntimeGrants) run as this login role, which owns
	// nothing; Open grants it what it lacks ([condo.GrantRuntime]).
	// Empty: one role for everything, the weaker mode.
	RuntimeDatabaseURL string
	// RuntimeShardURLs, when set instead of RuntimeDatabaseURL, splits the
	// roles over shards, for tens of thousands of tenants (the README's
	// "How tenancy is enforced"): URL k logs in as its own runtime role,
	// which Open grants only the tenants whose id % len(RuntimeShardURLs)
	// is k; tenant transactions and queries run on the shard's pool
	// ([Stack].TenantPools, which the registry uses), and the
	// application's shared-table queries as shard 0's shared role. The
	// shards share PoolSize connections. Changing the number of shards
	// grants the roles their new shares and revokes nothing. Defaults to
	// none.
	RuntimeShardURLs []string
	// Provisioners, when above zero, has Open make sure that many
	// provisioning roles create the tenant roles ([condo.Provision]), so
	// that no role administers more than its share of them. At most
	// [condo.MaxShards]. Zero leaves the roles as they are.
	Provisioners int
	// Pooler is what sits in front of DatabaseURL. Defaults to
	// [condo.PoolerAuto]: detected with [condo.DetectPooler].
	Pooler condo.PoolerMode
	// PoolSize caps the owner's pool, the direct pool and the runtime
	// pool. Defaults to [DefaultPoolSize].
	PoolSize int
	// TenantPools, when above zero, opens PoolSize more connections split
	// into this many tenant-affine pools ([condo.TenantPools]) for the
	// application's tenant reads. Zero: off. At most PoolSize.
	TenantPools int
	// StatementTimeout cancels a tenant statement running longer; zero
	// keeps the server's setting. AcquireTimeout bounds a tenant
	// transaction's wait for a connection; zero waits as long as ctx.
	StatementTimeout, AcquireTimeout time.Duration
	// DBWait is how long Open keeps retrying a database that cannot be
	// reached (with back-off, logging each try), answering on
	// Serve.HTTPAddr meanwhile. Zero: no retry. Negative: until ctx ends.
	DBWait time.Duration

	// Servers names the PostgreSQL servers database-tier tenants may live
	// on (condo.RegistryConfig.Servers): name → URL of a role that may
	// create databases and roles there. The registry's own server is
	// condo.MainServer, which defaults to DirectDatabaseURL (else
	// DatabaseURL): database-tier tenants always connect directly, never
	// through the transaction pooler. Nil: the main server alone.
	Servers map[string]string
	// SecretKey seals database-tier tenants' passwords
	// (condo.RegistryConfig.SecretKey): the certificate storage's key
	// serves (condocert.LoadKey). Nil: no database tier.
	SecretKey []byte

	// SharedMigrations and TenantMigrations are the application's
	// migration lines (see condomigrate). Nil: none.
	SharedMigrations, TenantMigrations fs.FS
	// Reserved labels can't be tenant slugs. Defaults to
	// condo.DefaultReserved().
	Reserved []string
	// OnTenantCreated runs in the creating transaction of every tenant.
	OnTenantCreated condo.OnTenantCreatedFunc
	// RuntimeGrants are the application's shared tables its request path
	// reads and writes, with the privileges it needs there, granted to
	// the runtime role's shared role with split roles. Defaults to none.
	RuntimeGrants []condo.TableGrant

	// Files, when set, stores tenants' files ([Stack].Files): a
	// condofiles.NewLocal directory or a condofiles.NewS3 bucket. The
	// registry purges, exports and imports them with their tenants. Nil:
	// off.
	Files condofiles.Backend
	// FilesConfig configures Files; nil takes condofiles' defaults, and
	// its Logger defaults to Logger.
	FilesConfig *condofiles.Config
	// Jobs, when set, builds [Stack].Jobs: tenant-aware background jobs
	// on River (package condojobs) over the owner's direct pool, or over
	// Pool polling (PollOnly) behind a transaction pooler without a
	// direct URL. Serve works them; migrate installs River's tables
	// ([Stack.MigrateJobs]). Workers defaults to none but Condo's own.
	// Nil: off.
	Jobs *condojobs.Config
	// Mail, when set, builds [Stack].Mail (package condomail), whose
	// delivery worker joins Jobs' workers. Needs Jobs. Nil: off.
	Mail *condomail.Config

	// PendingTenants, when above zero, has [Stack.Serve] keep that many
	// pending tenants ready ([condo.PendingPool]), so that signup claims
	// one in a short transaction instead of running the tenant's DDL.
	// Instances sharing a database should agree on it. Zero: no refill
	// (pending tenants made before are still claimed). Defaults to 0.
	PendingTenants int
	// RoleReserve, when above zero, has [Stack.Serve] keep that many
	// tenant roles reserved ([condo.RoleReserve]), refilled in batches
	// once half are taken, so that a signup commits no change to the
	// role catalogs (each one makes every runtime backend recompute its
	// memberships). For many tenants and signups while serving; not on
	// Citus. Instances sharing a database should agree on it. Zero: no
	// refill (reserved roles are still taken). Defaults to 0.
	RoleReserve int
	// MoveGrace is how long [Stack.Serve] keeps the fenced old copy of a
	// tenant moved between tiers before it drops it
	// ([condo.Registry.CleanupMoves]; instances sharing a database each
	// try, and each old copy is dropped by one). Negative: serve drops
	// none (the CLI's tenants cleanup-moves still does). Defaults to
	// [condo.DefaultMoveGrace].
	MoveGrace time.Duration

	// Serve configures [Stack.Serve] (and the resolver Open builds).
	Serve ServeConfig
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// ServeConfig configures the edge: the resolver's hosts, the listeners,
// HTTPS and the proxies in front.
type ServeConfig struct {
	// HTTPAddr is the plain-HTTP listen address. Defaults to ":8080".
	HTTPAddr string
	// HTTPSAddr is the HTTPS listen address. Empty: no HTTPS.
	HTTPSAddr string
	// Listeners, when set, are served instead of listening on the
	// addresses (the application opened them, e.g. to print the port).
	Listeners condohttp.Listeners
	// BaseDomains: slug.<base> is a tenant. Defaults to "localhost".
	BaseDomains []string
	// PathPrefix and TenantHeader: see [condo.ResolverConfig].
	PathPrefix, TenantHeader string
	// TrustedProxies and ForwardedHeaders: see [condohttp.ServerConfig].
	TrustedProxies   *condohttp.TrustedProxies
	ForwardedHeaders condohttp.ForwardedHeaders
	// Redirect and H2C: see [condohttp.ServerConfig].
	Redirect condohttp.RedirectMode
	H2C      bool
	// HTTPS certificates, one source at most: Certs (condocert's manager
	// on the stack's pool: ACME, on-demand certificates for verified
	// tenant domains, reloaded files; its OnDemand.AllowFunc defaults to
	// the registry's [condocert.RegistryAllow]), TLSConfig (the
	// application's own, e.g. a development CA), or CertFile and KeyFile
	// (loaded once).
	Certs             *condocert.Config
	TLSConfig         *tls.Config
	CertFile, KeyFile string
	// MetricsAddr is the Prometheus /metrics listen address. Empty: none.
	MetricsAddr string
	// DisableAccessLog turns the per-request log off.
	DisableAccessLog bool
	// ShutdownTimeout is how long a shutdown waits for requests in
	// flight. Defaults to 30 s.
	ShutdownTimeout time.Duration
	// HSTSMaxAge: see [condohttp.ServerConfig]; negative sends no HSTS.
	HSTSMaxAge time.Duration
}

// withDefaults returns a copy of cfg with the defaults filled in.
func (c *Config) withDefaults() Config {
	d := *c
	d.PoolSize = cmp.Or(d.PoolSize, DefaultPoolSize)
	d.Logger = cmp.Or(d.Logger, slog.Default())
	if len(d.Serve.BaseDomains) == 0 {
		d.Serve.BaseDomains = []string{"localhost"}
	}
	d.Serve.ShutdownTimeout = cmp.Or(d.Serve.ShutdownTimeout, 30*time.Second)
	return d
}

// validate returns every problem of c at once.
func (c *Config) validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, ErrNoDatabase)
	}
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("pool size: want at least 1, got %d", c.PoolSize))
	}
	if c.TenantPools < 0 || c.TenantPools > c.PoolSize {
		errs = append(errs, fmt.Errorf("tenant pools: want 0 (off) to the pool size (%d), got %d", c.PoolSize, c.TenantPools))
	}
	if c.Mail != nil && c.Jobs == nil {
		errs = append(errs, errors.New("mail needs jobs: set Config.Jobs too"))
	}
	if n := len(c.RuntimeShardURLs); n > 0 {
		if c.RuntimeDatabaseURL != "" {
			errs = append(errs, errors.New("runtime shard urls: give them or a runtime database url, not both"))
		}
		if c.TenantPools != 0 {
			errs = append(errs, errors.New("runtime shard urls: the shards are the tenant pools; leave tenant pools at 0"))
		}
		if n > condo.MaxShards {
			errs = append(errs, fmt.Errorf("runtime shard urls: at most %d, got %d", condo.MaxShards, n))
		}
	}
	if c.PendingTenants < 0 {
		errs = append(errs, fmt.Errorf("pending tenants: want 0 (off) or more, got %d", c.PendingTenants))
	}
	if c.RoleReserve < 0 {
		errs = append(errs, fmt.Errorf("role reserve: want 0 (off) or more, got %d", c.RoleReserve))
	}
	if c.Provisioners < 0 || c.Provisioners > condo.MaxShards {
		errs = append(errs, fmt.Errorf("provisioners: want 0 to %d, got %d", condo.MaxShards, c.Provisioners))
	}
	s := &c.Serve
	sources := 0
	for _, set := range []bool{s.Certs != nil, s.TLSConfig != nil, s.CertFile != "" || s.KeyFile != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		errs = append(errs, errors.New("serve: give one certificate source: Certs, TLSConfig, or CertFile and KeyFile"))
	}
	if s.HTTPSAddr != "" && s.Listeners.HTTPS == nil && sources == 0 {
		errs = append(errs, errors.New("serve: HTTPS needs certificates: Certs, TLSConfig, or CertFile and KeyFile"))
	}
	if s.Listeners.HTTPS != nil && sources == 0 {
		errs = append(errs, errors.New("serve: an HTTPS listener needs certificates"))
	}
	return errors.Join(errs...)
}

// ErrNoDatabase is returned by [Open] when [Config].DatabaseURL is empty.
var ErrNoDatabase = errors.New("no database: Config.DatabaseURL is empty")

// ErrNoDirectURL is returned by [Stack.RequireDirect] (and so by
// [Stack.Serve]) behind a transaction pooler without
// [Config].DirectDatabaseURL.
var ErrNoDirectURL = errors.New("behind a transaction pooler (such as PgBouncer's pool_mode = transaction), migrations and the change listener need a direct connection to PostgreSQL (Config.DirectDatabaseURL)")

// listening reports whether the stack will serve plain HTTP on an address
// of its own (the db-wait hand-off needs one).
func (s *ServeConfig) listening() bool {
	return s.Listeners.HTTP == nil && s.HTTPAddr != ""
}
