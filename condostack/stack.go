package condostack

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condomigrate"
)

// defaultConnectTimeout bounds a connection attempt when a database URL
// sets no connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// Stack is Condo assembled over one database. Its fields are the pieces
// the application and package condocli use; they are set by [Open] and
// must not be replaced.
type Stack struct {
	// Pool is [Config].DatabaseURL's pool: the owner role. The registry,
	// the migrator and the operations commands use it; so should the
	// application's provisioning (signup's tenant creation) and anything
	// loaded once at start (secrets).
	Pool *pgxpool.Pool
	// Direct connects straight to PostgreSQL, for what needs a session
	// (the migrator, the resolver's LISTEN). It is Pool itself when no
	// direct URL is given and no transaction pooler is in front of Pool,
	// and nil when one is (see [Stack.RequireDirect]).
	Direct *pgxpool.Pool
	// Runtime is the runtime role's pool with split roles (shard 0's with
	// [Config].RuntimeShardURLs), nil otherwise.
	Runtime *pgxpool.Pool
	// SharedPool is for the application's own queries on its shared
	// tables on the request path (sessions, accounts, counters): with
	// split roles it runs them on Runtime as the shared role, which holds
	// only [Config].RuntimeGrants ([condo.SharedPool]); otherwise on Pool.
	SharedPool *condo.SharedPool
	// TenantPools are tenant-affine pools for the application's tenant
	// reads ([Config].TenantPools), or the runtime shards' pools
	// ([Config].RuntimeShardURLs), which the registry's tenant
	// transactions use too; nil when off: use Registry then.
	TenantPools *condo.TenantPools
	// Pooler is what sits between Pool and PostgreSQL, as configured or
	// detected.
	Pooler   *condo.PoolerInfo
	Migrator *condomigrate.Migrator
	Registry *condo.Registry
	// Resolver maps hosts to tenants for [Stack.Serve]; it is started
	// there.
	Resolver *condo.Resolver
	// Files is the tenant-aware file store over [Config].Files; nil when
	// off.
	Files *condofiles.Files
	// Jobs enqueues and works background jobs ([Config].Jobs); nil when
	// off. Serve starts and stops it.
	Jobs *condojobs.Client
	// Mail sends mail through Jobs ([Config].Mail); nil when off.
	Mail   *condomail.Mailer
	Logger *slog.Logger

	cfg       Config
	httpLn    *handoff // the db-wait's socket, handed to Serve
	closeOnce sync.Once
}

// Open builds the stack from cfg: it waits for the database when
// [Config].DBWait says so, connects (detecting a pooler in front of
// DatabaseURL; behind a transaction pooler Pool uses no named prepared
// statements, [condo.ConfigurePool]), grants the runtime role what it
// lacks with split roles, and builds the migrator (on Direct), the
// registry and the resolver. It migrates nothing.
//
// It returns every configuration problem at once; [ErrNoDatabase] when
// DatabaseURL is empty; an error wrapping [condo.ErrStatementPooler] for a
// statement pooler, and one saying so when DirectDatabaseURL goes through
// a transaction pooler too. Close the stack when done.
func Open(ctx context.Context, cfg *Config) (_ *Stack, err error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := &Stack{cfg: c, Logger: c.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if c.DBWait != 0 {
		if err := s.waitForDatabase(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if s.Migrator, err = condomigrate.New(cmp.Or(s.Direct, s.Pool), &condomigrate.Config{
		Shared: c.SharedMigrations, Tenant: c.TenantMigrations, Logger: c.Logger,
	}); err != nil {
		return nil, err
	}
	tenantPool := s.Pool
	s.SharedPool = condo.NewSharedPool(s.Pool, "")
	if c.Provisioners > 0 {
		if _, err := condo.Provision(ctx, s.Pool, c.Provisioners); err != nil {
			return nil, err
		}
	}
	if c.RuntimeDatabaseURL != "" {
		if err := s.openRuntime(ctx); err != nil {
			return nil, err
		}
		tenantPool = s.Runtime
	}
	if len(c.RuntimeShardURLs) > 0 {
		if err := s.openRuntimeShards(ctx); err != nil {
			return nil, err
		}
		tenantPool = s.Runtime
	}
	// On Citus, tenant transactions run on tenant-affine pools of one
	// connection each (citus.go).
	pools, onCitus, err := s.citusTenantPools(ctx, c.TenantPools)
	if err != nil {
		return nil, err
	}
	if pools > 0 && s.TenantPools == nil {
		pcfg := tenantPool.Config()
		pcfg.MaxConns, pcfg.MinConns = int32(c.PoolSize), 0
		if s.TenantPools, err = condo.NewTenantPools(ctx, pcfg, pools); err != nil {
			return nil, err
		}
		s.TenantPools.SetTimeouts(c.StatementTimeout, c.AcquireTimeout)
	}
	servers, err := s.servers()
	if err != nil {
		return nil, err
	}
	rcfg := &condo.RegistryConfig{
		Reserved: c.Reserved, OnTenantCreated: c.OnTenantCreated, Logger: c.Logger, TenantPool: tenantPool,
		Servers: servers, SecretKey: c.SecretKey,
	}
	if onCitus || len(c.RuntimeShardURLs) > 0 {
		rcfg.TenantPools = s.TenantPools
	}
	if c.Files != nil {
		fcfg := condofiles.Config{}
		if c.FilesConfig != nil {
			fcfg = *c.FilesConfig
		}
		fcfg.Logger = cmp.Or(fcfg.Logger, c.Logger)
		s.Files = condofiles.New(c.Files, &fcfg)
		rcfg.Files = s.Files
	}
	s.Registry = condo.NewRegistry(s.Pool, s.Migrator, rcfg)
	s.Registry.SetTimeouts(c.StatementTimeout, c.AcquireTimeout)
	if s.Resolver, err = condo.NewResolver(s.Registry, &condo.ResolverConfig{
		BaseDomains:      c.Serve.BaseDomains,
		PathPrefix:       c.Serve.PathPrefix,
		TenantHeader:     c.Serve.TenantHeader,
		ListenConnConfig: s.listenConnConfig(),
		Logger:           c.Logger,
	}); err != nil {
		return nil, err
	}
	if err := s.openJobs(); err != nil {
		return nil, err
	}
	return s, nil
}

// openJobs builds Jobs and Mail when configured. River runs as the owner,
// which owns its tables: on Direct, where it can LISTEN for new jobs, or
// polling on Pool behind a transaction pooler without a direct URL.
func (s *Stack) openJobs() error {
	if s.cfg.Jobs == nil {
		return nil
	}
	jc := *s.cfg.Jobs
	jc.Logger = cmp.Or(jc.Logger, s.Logger)
	if jc.Workers == nil {
		jc.Workers = condojobs.NewWorkers()
	}
	pool := s.Direct
	if pool == nil {
		pool, jc.PollOnly = s.Pool, true
	}
	if s.cfg.Mail != nil {
		mc := *s.cfg.Mail
		mc.Logger = cmp.Or(mc.Logger, s.Logger)
		m, err := condomail.New(jc.Workers, &mc)
		if err != nil {
			return err
		}
		s.Mail = m
	}
	j, err := condojobs.New(s.Registry, pool, &jc)
	if err != nil {
		return err
	}
	s.Jobs = j
	return nil
}

// MigrateJobs installs or upgrades River's tables ([condojobs.Migrate])
// on Direct when jobs are configured; it does nothing otherwise. The
// migrate command runs it after the shared migrations. Returns an error
// wrapping [ErrNoDirectURL] without a direct connection.
func (s *Stack) MigrateJobs(ctx context.Context) (*condojobs.MigrateResult, error) {
	if s.Jobs == nil {
		return &condojobs.MigrateResult{}, nil
	}
	if err := s.RequireDirect(); err != nil {
		return nil, err
	}
	return condojobs.Migrate(ctx, s.Direct, s.Logger)
}

// Close closes the pools (and the socket of a database wait that Serve
// did not take over). Close after Serve has returned; calling it again
// does nothing.
func (s *Stack) Close() { s.closeOnce.Do(s.close) }

func (s *Stack) close() {
	if s.httpLn != nil {
		s.httpLn.close(nil)
	}
	if s.Registry != nil {
		s.Registry.Close() // database-tier tenants' pools
	}
	if s.TenantPools != nil {
		s.TenantPools.Close()
	}
	if s.Runtime != nil {
		s.Runtime.Close()
	}
	if s.Direct != nil && s.Direct != s.Pool {
		s.Direct.Close()
	}
	if s.Pool != nil {
		s.Pool.Close()
	}
}

// RequireDirect returns an error wrapping [ErrNoDirectURL], with what was
// configured or detected, when Pool goes through a transaction pooler and
// there is no direct connection: migrations and LISTEN need one.
func (s *Stack) RequireDirect() error {
	if s.Direct == nil {
		return fmt.Errorf("pooler %s: %w", s.Pooler, ErrNoDirectURL)
	}
	return nil
}

// listenConnConfig is the resolver's LISTEN connection: Direct's, or nil
// for the registry pool's.
func (s *Stack) listenConnConfig() *pgx.ConnConfig {
	if s.Direct == nil || s.Direct == s.Pool {
		return nil
	}
	return s.Direct.Config().ConnConfig
}

// parse parses one of the configured URLs with the pool size and a
// connect timeout.
func (s *Stack) parse(what, url string) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pcfg.MaxConns = int32(s.cfg.PoolSize)
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the URL a connection attempt to a
		// database host that does not answer (a failover, a dropped
		// route) waits as long as its context, which for a request may
		// be as long as the client waits.
		pcfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return pcfg, nil
}

// connect opens Pool and Direct.
func (s *Stack) connect(ctx context.Context) error {
	pcfg, err := s.parse("database url", s.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	var dcfg *pgxpool.Config
	if s.cfg.DirectDatabaseURL != "" {
		if dcfg, err = s.parse("direct database url", s.cfg.DirectDatabaseURL); err != nil {
			return err
		}
	}
	if s.Pooler, err = poolerInfo(ctx, pcfg, dcfg, s.cfg.Pooler); err != nil {
		return err
	}
	condo.ConfigurePool(pcfg, s.Pooler.Mode)
	if s.Pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	switch {
	case dcfg != nil:
		if s.Direct, err = pgxpool.NewWithConfig(ctx, dcfg); err != nil {
			return fmt.Errorf("connect direct: %w", err)
		}
	case !s.Pooler.Mode.NeedsDirect():
		s.Direct = s.Pool
	}
	return nil
}

// poolerInfo returns the configured pooler mode, or detects it; a direct
// URL is checked not to go through a transaction or statement pooler.
func poolerInfo(ctx context.Context, pcfg, dcfg *pgxpool.Config, mode condo.PoolerMode) (*condo.PoolerInfo, error) {
	if dcfg != nil {
		d, err := condo.DetectPooler(ctx, dcfg.ConnConfig)
		if err != nil {
			return nil, fmt.Errorf("direct database url: %w", err)
		}
		if d.Mode == condo.PoolerTransaction && !d.Assumed {
			return nil, fmt.Errorf("direct database url goes through a transaction pooler (%s): point it at PostgreSQL itself", d.Reason)
		}
	}
	switch mode {
	case condo.PoolerNone, condo.PoolerSession, condo.PoolerTransaction:
		return &condo.PoolerInfo{Mode: mode, Reason: "configured"}, nil
	case condo.PoolerStatement:
		return nil, condo.ErrStatementPooler
	}
	return condo.DetectPooler(ctx, pcfg.ConnConfig)
}

// openRuntime opens the runtime role's pool (split roles), grants the
// role whatever tenant roles and declared shared-table grants it lacks,
// and points SharedPool at its shared role.
func (s *Stack) openRuntime(ctx context.Context) error {
	pcfg, err := s.parse("runtime database url", s.cfg.RuntimeDatabaseURL)
	if err != nil {
		return err
	}
	// The runtime URL goes through whatever DatabaseURL goes through.
	condo.ConfigurePool(pcfg, s.Pooler.Mode)
	if s.Runtime, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("runtime database: %w", err)
	}
	var role string
	if err := s.Runtime.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		return fmt.Errorf("runtime database: %w", err)
	}
	if _, err := condo.GrantRuntime(ctx, s.Pool, role, &condo.GrantRuntimeOpts{Tables: s.cfg.RuntimeGrants}); err != nil {
		return err
	}
	shared, err := condo.SharedRoleName(role)
	if err != nil {
		return err
	}
	s.SharedPool = condo.NewSharedPool(s.Runtime, shared)
	return nil
}
