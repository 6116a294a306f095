package condocli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condostack"
)

// Config is what an application tells the CLI. A nil *Config is valid.
type Config struct {
	// Name is the command's name. Defaults to "condo".
	Name string
	// Short is the one-line description shown by help.
	Short string
	// Stack is the application's part of the stack's configuration:
	// migrations, reserved slugs, the tenant-creation hook, runtime
	// grants. The CLI fills in the database from --database-url,
	// --direct-database-url and --pooler (or DATABASE_URL,
	// CONDO_DIRECT_DATABASE_URL and CONDO_POOLER) and opens it with
	// [condostack.Open]. Nil: none of them.
	Stack *condostack.Config
	// DefaultDatabase, when set, is asked for a database when neither
	// --database-url nor DATABASE_URL is given (the reference app's
	// development cluster). stop, when not nil, runs when the command
	// ends.
	DefaultDatabase func(ctx context.Context) (url string, stop func(), err error)
	// Getenv defaults to os.Getenv.
	Getenv func(string) string
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Logger defaults to a text logger on Stderr at info level.
	Logger *slog.Logger
}

// ErrNoDatabase is returned when neither --database-url nor DATABASE_URL
// (nor [Config].DefaultDatabase) gives a database.
var ErrNoDatabase = errors.New("no database: set DATABASE_URL or pass --database-url")

// CLI is Condo's operations commands over one application's stack: the
// root command, and the stack its commands share, opened on first use and
// closed when the command ends.
type CLI struct {
	cfg         *Config
	root        *cobra.Command
	databaseURL string
	serversFile string
	directURL   string
	pooler      string
	parallel    int
	stack       *condostack.Stack
	stop        func()
}

// New returns the command line: a root command with Condo's commands
// (migrate, tenants, certs, doctor, harden, runtime-grant, proxy-config).
// Add the application's own (serve, …) with [CLI.Command]'s AddCommand;
// they reach the database with [CLI.Open] or [CLI.StackConfig].
func New(cfg *Config) *CLI {
	c := &CLI{cfg: withDefaults(cfg)}
	root := &cobra.Command{
		Use:               c.cfg.Name,
		Short:             cmp.Or(c.cfg.Short, "Multi-tenant SaaS on PostgreSQL"),
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPostRun: func(*cobra.Command, []string) { c.Close() },
	}
	root.SetIn(c.cfg.Stdin)
	root.SetOut(c.cfg.Stdout)
	root.SetErr(c.cfg.Stderr)
	root.PersistentFlags().StringVar(&c.databaseURL, "database-url", "", "PostgreSQL connection string (default $DATABASE_URL)")
	root.PersistentFlags().StringVar(&c.directURL, "direct-database-url", "", "connection string straight to PostgreSQL, for migrations and LISTEN when --database-url goes through a transaction pooler (default $CONDO_DIRECT_DATABASE_URL)")
	root.PersistentFlags().StringVar(&c.serversFile, "servers-file", "", "file naming the database tier's servers, lines of name=postgres://… or a JSON object (default $"+ServersEnv+"); never give credentials in flags")
	root.PersistentFlags().StringVar(&c.pooler, "pooler", "", "what sits in front of --database-url: auto (detect), none, session or transaction (default $CONDO_POOLER, else auto)")
	root.AddCommand(newMigrateCmd(c), newTenantsCmd(c), newProxyConfigCmd(c), newCertsCmd(c), newDoctorCmd(c))
	root.AddCommand(newHardenCmd(c), newRuntimeGrantCmd(c))
	strictTree(c, root)
	c.root = root
	return c
}

// NewCommand returns New(cfg)'s root command.
func NewCommand(cfg *Config) *cobra.Command { return New(cfg).Command() }

// Command returns the root command.
func (c *CLI) Command() *cobra.Command { return c.root }

// Getenv is [Config].Getenv (os.Getenv by default), for the application's
// commands to read the same environment.
func (c *CLI) Getenv(name string) string { return c.cfg.Getenv(name) }

// Logger is [Config].Logger, defaulted.
func (c *CLI) Logger() *slog.Logger { return c.cfg.Logger }

func withDefaults(cfg *Config) *Config {
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	c.Name = cmp.Or(c.Name, "condo")
	if c.Stack == nil {
		c.Stack = &condostack.Config{}
	}
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

// DatabaseURL is the database the command line names: --database-url,
// else DATABASE_URL; empty when neither is set.
func (c *CLI) DatabaseURL() string {
	return cmp.Or(c.databaseURL, c.cfg.Getenv("DATABASE_URL"))
}

// StackConfig returns a copy of [Config].Stack with the database the
// command line says (flags, else environment, else
// [Config].DefaultDatabase, which it starts) and the CLI's logger, for an
// application command that opens the stack itself (serve, with
// [ServeFlags]). The pool is sized for the operations commands; serve's
// flags size it for serving. The default database is stopped by
// [CLI.Close]. Returns [ErrNoDatabase] when there is none.
func (c *CLI) StackConfig(ctx context.Context) (*condostack.Config, error) {
	url := c.DatabaseURL()
	if url == "" && c.cfg.DefaultDatabase != nil && c.stop == nil {
		var err error
		if url, c.stop, err = c.cfg.DefaultDatabase(ctx); err != nil {
			return nil, err
		}
	}
	if url == "" {
		return nil, ErrNoDatabase
	}
	mode, err := condo.ParsePoolerMode(cmp.Or(c.pooler, c.cfg.Getenv("CONDO_POOLER")))
	if err != nil {
		return nil, fmt.Errorf("--pooler: %w", err)
	}
	sc := *c.cfg.Stack
	sc.DatabaseURL = url
	sc.DirectDatabaseURL = cmp.Or(c.directURL, c.cfg.Getenv("CONDO_DIRECT_DATABASE_URL"))
	sc.Pooler = mode
	// One connection more than the widest parallel run, for the lock.
	sc.PoolSize = max(c.parallel+2, 4)
	sc.Logger = cmp.Or(sc.Logger, c.cfg.Logger)
	servers, err := c.loadServers()
	if err != nil {
		return nil, err
	}
	if servers != nil {
		sc.Servers = servers
	}
	if sc.SecretKey == nil {
		// The certificate storage's key seals the database tier's
		// passwords too; without one, the tier is off.
		key, err := condocert.LoadKey("", c.cfg.Getenv)
		switch {
		case err == nil:
			sc.SecretKey = key
		case !errors.Is(err, condocert.ErrNoKey):
			return nil, err
		}
	}
	return &sc, nil
}

// Open returns the stack the commands share, opening it on first use
// with [CLI.StackConfig]. It is closed when the command ends.
func (c *CLI) Open(ctx context.Context) (*condostack.Stack, error) {
	if c.stack != nil {
		return c.stack, nil
	}
	sc, err := c.StackConfig(ctx)
	if err != nil {
		return nil, err
	}
	st, err := condostack.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	c.stack = st
	return st, nil
}

// Main runs the command line with os.Args and returns the exit code:
// 0 on success, 1 on error (printed to Stderr), 130 when interrupted.
func Main(cfg *Config) int { return New(cfg).Main() }

// Main runs the command line with os.Args (see [Main]).
func (c *CLI) Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.Execute(ctx, os.Args[1:])
	if err == nil {
		return 0
	}
	fmt.Fprintf(c.root.ErrOrStderr(), "%s: %v\n", c.root.Name(), err)
	if ctx.Err() != nil {
		return 130
	}
	return 1
}

// Execute runs the command line with args and releases the database
// afterwards, whether the command succeeded or not.
func (c *CLI) Execute(ctx context.Context, args []string) error {
	strictTree(c, c.root)
	c.root.SetArgs(args)
	defer c.Close() // PersistentPostRun does not run after an error
	return withHint(c.root.ExecuteContext(ctx))
}

// withHint adds to the library's errors the flags and variables that fix
// them, for the application's commands as much as for Condo's.
func withHint(err error) error {
	switch {
	case errors.Is(err, condostack.ErrNoDirectURL):
		return fmt.Errorf("%w: set CONDO_DIRECT_DATABASE_URL or pass --direct-database-url (and CONDO_POOLER/--pooler if the detection is wrong)", err)
	case errors.Is(err, condostack.ErrNoDatabase):
		return fmt.Errorf("%w: set DATABASE_URL or pass --database-url", err)
	}
	return err
}

// Close releases the stack and stops a default database.
func (c *CLI) Close() {
	if c.stack != nil {
		c.stack.Close()
		c.stack = nil
	}
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

// run wraps a command body that needs the stack.
func (c *CLI) run(fn func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		st, err := c.Open(cmd.Context())
		if err != nil {
			return err
		}
		return fn(cmd.Context(), cmd, st, args)
	}
}
