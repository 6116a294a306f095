package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
)

type devFlags struct {
	addr, httpsAddr, stateDir, base string
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

and the same over HTTPS on --https (127.0.0.1:8443), with certificates from
a development CA kept in --state-dir: trust it once (the first run prints
how) and https://acme.localhost:8443 works without warnings. The CA can
sign nothing but localhost names.

Ctrl-C stops the server and PostgreSQL; nothing is left running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, cfg, o, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (loopback only by default)")
	fl.StringVar(&f.httpsAddr, "https", "127.0.0.1:8443", `HTTPS listen address, with the development CA ("" for none)`)
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
	if _, err := env.Migrator.MigrateTenants(ctx, env.Registry, nil); err != nil {
		return fmt.Errorf("migrate tenants: %w", err)
	}
	a, err := newApp(ctx, env, o)
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
	scfg := &condohttp.ServerConfig{
		Handler:         condohttp.NewRouter(res, a.handlers),
		Resolver:        res,
		Ready:           env.Pool.Ping,
		Redirect:        condohttp.RedirectNever, // both schemes work, for a browser that does not trust the CA yet
		ShutdownTimeout: 5 * time.Second,
		// No HSTS in development, whatever --base-domain is: a
		// certificate from the development CA must never pin a name to
		// HTTPS in a browser (condohttp already sends none for
		// *.localhost and IP addresses).
		HSTSMaxAge: -1,
		Logger:     env.Logger,
	}
	var ca *condocert.DevCA
	caNew := false
	if f.httpsAddr != "" {
		caDir := filepath.Join(f.stateDir, "ca")
		_, statErr := os.Stat(caDir)
		caNew = errors.Is(statErr, fs.ErrNotExist)
		if ca, err = condocert.NewDevCA(caDir); err != nil {
			return err
		}
		scfg.TLSConfig = ca.TLSConfig()
	}
	srv, err := condohttp.NewServer(scfg)
	if err != nil {
		return err
	}
	var ls condohttp.Listeners
	var lc net.ListenConfig
	if ls.HTTP, err = lc.Listen(ctx, "tcp", f.addr); err != nil {
		return fmt.Errorf("%w (choose another address with --addr)", err)
	}
	if f.httpsAddr != "" {
		if ls.HTTPS, err = lc.Listen(ctx, "tcp", f.httpsAddr); err != nil {
			ls.HTTP.Close()
			return fmt.Errorf("%w (choose another address with --https, or none with --https \"\")", err)
		}
	}
	if err := res.Start(ctx); err != nil {
		ls.HTTP.Close()
		if ls.HTTPS != nil {
			ls.HTTPS.Close()
		}
		return err
	}
	defer func() { _ = res.Stop(context.WithoutCancel(ctx)) }()
	a.usage.Start(ctx)
	defer a.usage.Stop()

	site := func(scheme string, ln net.Listener, label string) string {
		host := f.base
		if label != "" {
			host = label + "." + f.base
		}
		return scheme + "://" + host + ":" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"
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
`, time.Since(start).Seconds(), data, site("http", ls.HTTP, ""), site("http", ls.HTTP, "acme"),
		site("http", ls.HTTP, "globex"), site("http", ls.HTTP, "admin"))
	if ls.HTTPS != nil {
		fmt.Fprintf(out, "  Over HTTPS       %s  %s  ...\n", site("https", ls.HTTPS, ""), site("https", ls.HTTPS, "acme"))
	}
	fmt.Fprintf(out, `
  Tenant login     %s / %s
  Admin login      %s / %s
  Database         %s
`, demoEmail, demoPassword, adminEmail, demoPassword, dbNote)
	if ca != nil && caNew {
		fmt.Fprintf(out, "\nHTTPS uses a development CA made just now. To trust it on this machine:\n%s", ca.TrustCommand())
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
	err = srv.Serve(ctx, ls)
	fmt.Fprintln(out, "Stopping.")
	return err
}
