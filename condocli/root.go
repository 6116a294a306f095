package condocli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
)

// Config is what an application tells the CLI. A nil *Config is valid.
type Config struct {
	// Name is the command's name. Defaults to "condo".
	Name string
	// Short is the one-line description shown by help.
	Short string
	// SharedMigrations and TenantMigrations are the application's
	// migration lines (see condomigrate).
	SharedMigrations fs.FS
	TenantMigrations fs.FS
	// Reserved labels can't be tenant slugs. Defaults to
	// condo.DefaultReserved().
	Reserved []string
	// OnTenantCreated runs in the creating transaction of every tenant.
	OnTenantCreated condo.OnTenantCreatedFunc
	// RuntimeGrants are the application's shared tables its request path
	// reads and writes, with the privileges it needs there: with split
	// roles, runtime-grant and serve grant them to the runtime role's
	// shared role ([condo.GrantRuntimeOpts]) and serve hands the
	// application [Env].SharedPool, which runs as it. Leave out what only the owner
	// should reach (secrets the app loads at start, tables signup writes
	// in the tenant's creating transaction only). Defaults to none.
	RuntimeGrants []condo.TableGrant
	// Serve configures the serve command (the application's handlers).
	Serve *ServeConfig
	// DefaultDatabase, when set, is asked for a database when neither
	// --database-url nor DATABASE_URL is given (the reference app starts a
	// private cluster). stop, when not nil, runs when the command ends.
	DefaultDatabase func(ctx context.Context) (url string, stop func(), err error)
	// Commands are extra commands added to the root (an app's own).
	Commands []*cobra.Command
	// Getenv defaults to os.Getenv.
	Getenv func(string) string
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Logger defaults to a text logger on Stderr at info level.
	Logger *slog.Logger
}

// Env is an opened database with Condo on top.
type Env struct {
	// Pool is DATABASE_URL's pool: the owner role, which owns the schemas
	// and shared tables. The Registry, the Migrator and the CLI use it;
	// so should the application's provisioning (signup's tenant creation)
	// and anything loaded once at start (secrets).
	Pool *pgxpool.Pool
	// SharedPool is for the application's own queries on its shared
	// tables on the request path (sessions, accounts, counters). With
	// split roles (serve --runtime-database-url) it runs each of them on
	// the runtime role's pool as the shared role, which holds only
	// [Config].RuntimeGrants, is a member of no tenant role and may not
	// call set_config (hardened), so an SQL injection in one statement of
	// that code reaches those tables and nothing else (see
	// [condo.SharedPool]); otherwise it is Pool, the owner.
	SharedPool *condo.SharedPool
	Migrator   *condomigrate.Migrator
	Registry   *condo.Registry
	Logger     *slog.Logger
	// TenantPools is set by serve --tenant-pools: tenant-affine pools for
	// the app's tenant reads ([condo.TenantPools.QueryTenant]). Nil
	// otherwise; use Registry then.
	TenantPools *condo.TenantPools
	// Direct connects straight to PostgreSQL (--direct-database-url), for
	// what needs a session: the Migrator runs on it (its lock, long DDL)
	// and the resolver's LISTEN uses its settings. It is Pool itself when
	// no direct URL is given and no transaction pooler is in front of
	// Pool, and nil when one is (see [Env.RequireDirect]).
	Direct *pgxpool.Pool
	// Pooler is what sits between Pool and PostgreSQL, as configured
	// (--pooler) or detected ([condo.DetectPooler]).
	Pooler *condo.PoolerInfo
}

// Close closes the pools.
func (e *Env) Close() {
	if e.Direct != nil && e.Direct != e.Pool {
		e.Direct.Close()
	}
	e.Pool.Close()
}

// ErrNoDirectURL is returned by [Env.RequireDirect] (and so by serve and
// migrate) behind a transaction pooler when no direct URL is given.
var ErrNoDirectURL = errors.New("behind a transaction pooler (such as PgBouncer's pool_mode = transaction), migrations and the change listener need a direct connection to PostgreSQL: set CONDO_DIRECT_DATABASE_URL or pass --direct-database-url (and CONDO_POOLER/--pooler if the detection is wrong)")

// RequireDirect returns an error wrapping [ErrNoDirectURL], with what
// was configured or detected, when Pool goes through a transaction
// pooler and there is no direct connection.
func (e *Env) RequireDirect() error {
	if e.Direct == nil {
		return fmt.Errorf("pooler %s: %w", e.Pooler, ErrNoDirectURL)
	}
	return nil
}

// ListenConnConfig returns the connection settings for LISTEN
// ([condo.ResolverConfig].ListenConnConfig): Direct's, or nil for the
// registry pool's.
func (e *Env) ListenConnConfig() *pgx.ConnConfig {
	if e.Direct == nil || e.Direct == e.Pool {
		return nil
	}
	return e.Direct.Config().ConnConfig
}

// app is the state the commands share.
type app struct {
	cfg         *Config
	databaseURL string
	directURL   string
	pooler      string
	env         *Env
	stop        func()
	parallel    int
}

// defaultConnectTimeout bounds a connection attempt when the database URL
// sets no connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// ErrNoDatabase is returned when neither --database-url nor DATABASE_URL
// is set.
var ErrNoDatabase = errors.New("no database: set DATABASE_URL or pass --database-url")

// Open connects to url and builds the migrator and registry from cfg,
// detecting a pooler in front of url. See [Connect].
func Open(ctx context.Context, url string, cfg *Config, poolSize int32) (*Env, error) {
	return Connect(ctx, cfg, &OpenOpts{URL: url, PoolSize: poolSize})
}

// OpenOpts says how [Connect] reaches the database.
type OpenOpts struct {
	// URL is the application's connection string; it may go through a
	// pooler such as PgBouncer.
	URL string
	// DirectURL connects straight to PostgreSQL, for what needs a session
	// (see [Env].Direct). Needed behind a transaction pooler; optional
	// otherwise.
	DirectURL string
	// Pooler is what sits in front of URL. Defaults to [condo.PoolerAuto]:
	// detected with [condo.DetectPooler].
	Pooler condo.PoolerMode
	// PoolSize caps Pool (and Direct). Zero keeps pgx's default.
	PoolSize int32
}

// Connect opens the application's pool and, when given, the direct one,
// and builds the migrator (on the direct pool) and the registry from cfg.
// Behind a transaction pooler Pool uses no named prepared statements
// ([condo.ConfigurePool]). It returns an error wrapping
// [condo.ErrStatementPooler] for a statement pooler, and one saying so when
// DirectURL turns out to go through a transaction pooler too.
func Connect(ctx context.Context, cfg *Config, opts *OpenOpts) (*Env, error) {
	cfg = withDefaults(cfg)
	if opts == nil {
		opts = &OpenOpts{}
	}
	parse := func(what, url string) (*pgxpool.Config, error) {
		pcfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			// pgx's parse errors redact the password.
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if opts.PoolSize > 0 {
			pcfg.MaxConns = opts.PoolSize
		}
		if pcfg.ConnConfig.ConnectTimeout == 0 {
			// Without connect_timeout in the URL a connection attempt to
			// a database host that does not answer (a failover, a
			// dropped route) waits as long as its context, which for a
			// request may be as long as the client waits.
			pcfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
		}
		return pcfg, nil
	}
	pcfg, err := parse("database url", opts.URL)
	if err != nil {
		return nil, err
	}
	var dcfg *pgxpool.Config
	if opts.DirectURL != "" {
		if dcfg, err = parse("direct database url", opts.DirectURL); err != nil {
			return nil, err
		}
	}
	info, err := poolerInfo(ctx, pcfg, dcfg, opts.Pooler)
	if err != nil {
		return nil, err
	}
	condo.ConfigurePool(pcfg, info.Mode)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	direct := pool
	switch {
	case dcfg != nil:
		if direct, err = pgxpool.NewWithConfig(ctx, dcfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect direct: %w", err)
		}
	case info.Mode.NeedsDirect():
		direct = nil
	}
	env := &Env{Pool: pool, SharedPool: condo.NewSharedPool(pool, ""), Direct: direct, Pooler: info, Logger: cfg.Logger}
	m, err := condomigrate.New(cmp.Or(direct, pool), &condomigrate.Config{Shared: cfg.SharedMigrations, Tenant: cfg.TenantMigrations, Logger: cfg.Logger})
	if err != nil {
		env.Close()
		return nil, err
	}
	env.Migrator = m
	env.Registry = condo.NewRegistry(pool, m, &condo.RegistryConfig{Reserved: cfg.Reserved, OnTenantCreated: cfg.OnTenantCreated, Logger: cfg.Logger})
	return env, nil
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
	info, err := condo.DetectPooler(ctx, pcfg.ConnConfig)
	if err != nil {
		return nil, err
	}
	return info, nil
}

func withDefaults(cfg *Config) *Config {
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	c.Name = cmp.Or(c.Name, "condo")
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return &c
}

// open returns the shared Env, connecting on first use.
func (a *app) open(ctx context.Context) (*Env, error) {
	if a.env != nil {
		return a.env, nil
	}
	url := cmp.Or(a.databaseURL, a.cfg.Getenv("DATABASE_URL"))
	if url == "" && a.cfg.DefaultDatabase != nil {
		var err error
		if url, a.stop, err = a.cfg.DefaultDatabase(ctx); err != nil {
			return nil, err
		}
	}
	if url == "" {
		return nil, ErrNoDatabase
	}
	mode, err := condo.ParsePoolerMode(cmp.Or(a.pooler, a.cfg.Getenv("CONDO_POOLER")))
	if err != nil {
		return nil, fmt.Errorf("--pooler: %w", err)
	}
	// One connection more than the widest parallel run, for the lock.
	size := int32(max(a.parallel+2, 4))
	env, err := Connect(ctx, a.cfg, &OpenOpts{
		URL:       url,
		DirectURL: cmp.Or(a.directURL, a.cfg.Getenv("CONDO_DIRECT_DATABASE_URL")),
		Pooler:    mode,
		PoolSize:  size,
	})
	if err != nil {
		return nil, err
	}
	a.env = env
	return env, nil
}

// NewCommand returns the root command with every Condo command under it.
func NewCommand(cfg *Config) *cobra.Command {
	cmd, _ := newCommand(cfg)
	return cmd
}

func newCommand(cfg *Config) (*cobra.Command, *app) {
	a := &app{cfg: withDefaults(cfg)}
	root := &cobra.Command{
		Use:               a.cfg.Name,
		Short:             cmp.Or(a.cfg.Short, "Multi-tenant SaaS on PostgreSQL"),
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPostRun: func(*cobra.Command, []string) { a.close() },
	}
	root.SetIn(a.cfg.Stdin)
	root.SetOut(a.cfg.Stdout)
	root.SetErr(a.cfg.Stderr)
	root.PersistentFlags().StringVar(&a.databaseURL, "database-url", "", "PostgreSQL connection string (default $DATABASE_URL)")
	root.PersistentFlags().StringVar(&a.directURL, "direct-database-url", "", "connection string straight to PostgreSQL, for migrations and LISTEN when --database-url goes through a transaction pooler (default $CONDO_DIRECT_DATABASE_URL)")
	root.PersistentFlags().StringVar(&a.pooler, "pooler", "", "what sits in front of --database-url: auto (detect), none, session or transaction (default $CONDO_POOLER, else auto)")
	root.AddCommand(newMigrateCmd(a), newTenantsCmd(a), newServeCmd(a), newProxyConfigCmd(a), newCertsCmd(a), newDoctorCmd(a))
	root.AddCommand(newHardenCmd(a), newRuntimeGrantCmd(a))
	root.AddCommand(a.cfg.Commands...)
	closeOnError(root, a)
	return root, a
}

// closeOnError makes every command of the tree release the database when
// it fails, since cobra runs PersistentPostRun only after a success (a
// program embedding NewCommand would otherwise keep the pool open).
func closeOnError(c *cobra.Command, a *app) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if err != nil {
				a.close()
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		closeOnError(sub, a)
	}
}

// Main runs the command line with os.Args and returns the exit code:
// 0 on success, 1 on error (printed to Stderr), 130 when interrupted.
func Main(cfg *Config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, a := newCommand(cfg)
	err := cmd.ExecuteContext(ctx)
	a.close() // PersistentPostRun does not run after an error
	if err == nil {
		return 0
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", cmd.Name(), err)
	if ctx.Err() != nil {
		return 130
	}
	return 1
}

// close releases the database and stops a default database.
func (a *app) close() {
	if a.env != nil {
		a.env.Close()
		a.env = nil
	}
	if a.stop != nil {
		a.stop()
		a.stop = nil
	}
}
