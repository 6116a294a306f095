package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/internal/pgcluster"
)

type devFlags struct {
	addr, stateDir, base string
}

func newDevCmd(cfg *condocli.Config, o *options) *cobra.Command {
	f := devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the app for development: private PostgreSQL, demo tenants, http://localhost:8080",
		Long: `Run the whole app on this machine with no configuration.

Without DATABASE_URL (or --database-url), dev starts a private PostgreSQL
cluster under --state-dir (initdb on the first run, reused afterwards; it
needs the PostgreSQL server binaries, not a running server), applies every
migration, creates the demo tenants acme and globex with sample hotels and
a demo login (first run only), and serves:

  http://localhost:8080          the public site (signup)
  http://acme.localhost:8080     a tenant (browsers resolve *.localhost to this machine)
  http://admin.localhost:8080    the platform admin

Ctrl-C stops the server and PostgreSQL; nothing is left running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, cfg, o, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (loopback only by default)")
	fl.StringVar(&f.stateDir, "state-dir", cmp.Or(o.stateDir, defaultStateDir), "where the development PostgreSQL cluster lives")
	fl.StringVar(&f.base, "base-domain", "localhost", "base domain: slug.<base> is a tenant")
	return cmd
}

func runDev(cmd *cobra.Command, cfg *condocli.Config, o *options, f devFlags) error {
	ctx := cmd.Context()
	start := time.Now()
	out := cmd.OutOrStdout()
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	url := ""
	if fl := cmd.Flag("database-url"); fl != nil {
		url = fl.Value.String()
	}
	url = cmp.Or(url, getenv("DATABASE_URL"))
	dbNote := "DATABASE_URL"
	if url == "" {
		fmt.Fprintf(out, "Starting PostgreSQL in %s ...\n", clusterDir(f.stateDir))
		c, u, err := startDevCluster(ctx, f.stateDir)
		if err != nil {
			return errClusterBusy(err)
		}
		// Stopped last, after the server and the pool (defers run in
		// reverse).
		defer c.Stop()
		url, dbNote = u, u
	}
	env, err := condocli.Open(ctx, url, cfg, 16)
	if err != nil {
		return err
	}
	defer env.Close()
	if _, err := env.Migrator.MigrateShared(ctx, nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := env.Migrator.MigrateTenants(ctx, nil); err != nil {
		return fmt.Errorf("migrate tenants: %w", err)
	}
	a, err := newApp(env, o)
	if err != nil {
		return err
	}
	created, err := seedDemo(ctx, env, a.store)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	res, err := condo.NewResolver(env.Registry, &condo.ResolverConfig{BaseDomains: []string{f.base}, Logger: env.Logger})
	if err != nil {
		return err
	}
	srv, err := condo.NewServer(&condo.ServerConfig{
		Handler:         res.Router(a.handlers),
		Resolver:        res,
		Ready:           env.Pool.Ping,
		ShutdownTimeout: 5 * time.Second,
		Logger:          env.Logger,
	})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", f.addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with --addr)", err)
	}
	if err := res.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	defer func() { _ = res.Stop(context.WithoutCancel(ctx)) }()
	a.usage.Start(ctx)
	defer a.usage.Stop()

	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	site := func(label string) string {
		host := f.base
		if label != "" {
			host = label + "." + f.base
		}
		return "http://" + host + ":" + port + "/"
	}
	data := "reused"
	if len(created) > 0 {
		data = fmt.Sprintf("created %v", created)
	}
	fmt.Fprintf(out, `
Hotels is up in %.1fs (demo data %s).

  Public site      %s
  Tenant acme      %s
  Tenant globex    %s
  Platform admin   %s

  Tenant login     %s / %s
  Admin login      %s / %s
  Database         %s

Press Ctrl-C to stop.
`, time.Since(start).Seconds(), data, site(""), site("acme"), site("globex"), site("admin"),
		demoEmail, demoPassword, adminEmail, demoPassword, dbNote)
	err = srv.Serve(ctx, condo.Listeners{HTTP: ln})
	fmt.Fprintln(out, "Stopping.")
	return err
}

// clusterStatus is for tests: the pid of the cluster's server, 0 if none.
func clusterStatus(stateDir string) int {
	pid, _, _ := pgcluster.Running(clusterDir(stateDir))
	return pid
}
