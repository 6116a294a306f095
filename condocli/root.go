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
	Pool     *pgxpool.Pool
	Migrator *condomigrate.Migrator
	Registry *condo.Registry
	Logger   *slog.Logger
	// TenantPools is set by serve --tenant-pools: tenant-affine pools for
	// the app's tenant reads ([condo.TenantPools.QueryTenant]). Nil
	// otherwise; use Registry then.
	TenantPools *condo.TenantPools
}

// Close closes the pool.
func (e *Env) Close() { e.Pool.Close() }

// app is the state the commands share.
type app struct {
	cfg         *Config
	databaseURL string
	env         *Env
	stop        func()
	parallel    int
}

// ErrNoDatabase is returned when neither --database-url nor DATABASE_URL
// is set.
var ErrNoDatabase = errors.New("no database: set DATABASE_URL or pass --database-url")

// Open connects to url and builds the migrator and registry from cfg.
func Open(ctx context.Context, url string, cfg *Config, poolSize int32) (*Env, error) {
	cfg = withDefaults(cfg)
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("database url: %w", err)
	}
	if poolSize > 0 {
		pcfg.MaxConns = poolSize
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: cfg.SharedMigrations, Tenant: cfg.TenantMigrations, Logger: cfg.Logger})
	if err != nil {
		pool.Close()
		return nil, err
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Reserved: cfg.Reserved, OnTenantCreated: cfg.OnTenantCreated, Logger: cfg.Logger})
	return &Env{Pool: pool, Migrator: m, Registry: reg, Logger: cfg.Logger}, nil
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
	// One connection more than the widest parallel run, for the lock.
	size := int32(max(a.parallel+2, 4))
	env, err := Open(ctx, url, a.cfg, size)
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
	root.AddCommand(newMigrateCmd(a), newTenantsCmd(a), newServeCmd(a), newProxyConfigCmd(a), newCertsCmd(a), newDoctorCmd(a))
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
