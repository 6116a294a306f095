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

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/examples/hotels/notify"
)

// devPendingTenants is the pending tenants dev keeps ready for signups.
const devPendingTenants = 2

type devFlags struct {
	addr, httpsAddr, stateDir, base string
}

func newDevCmd(cli *condocli.CLI, o *options) *cobra.Command {
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
sign nothing but localhost names. Two pending tenants are kept ready, so
a signup claims one instead of waiting for its tables (see the README's
"Pending tenants").

Ctrl-C stops the server and PostgreSQL; nothing is left running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, cli, o, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (loopback only by default)")
	fl.StringVar(&f.httpsAddr, "https", "127.0.0.1:8443", `HTTPS listen address, with the development CA ("" for none)`)
	fl.StringVar(&f.stateDir, "state-dir", cmp.Or(o.stateDir, defaultStateDir), "where the development PostgreSQL cluster lives")
	fl.StringVar(&f.base, "base-domain", "localhost", "base domain: slug.<base> is a tenant")
	return cmd
}

func runDev(cmd *cobra.Command, cli *condocli.CLI, o *options, f devFlags) error {
	ctx := cmd.Context()
	start := time.Now()
	out := cmd.OutOrStdout()
	url := cli.DatabaseURL()
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
	cfg := stackConfig(o)
	cfg.DatabaseURL, cfg.PoolSize, cfg.Logger = url, 16, cli.Logger()
	// A small pool of ready-made tenants: a signup claims one instead of
	// running the DDL (README, "Pending tenants").
	cfg.PendingTenants = devPendingTenants
	if err := setFiles(cfg, o.getenv, f.stateDir); err != nil {
		return err
	}
	// Mail goes to an outbox listed at http://admin.localhost:8080/dev/mail;
	// invitation links stay on screen too.
	o.outbox, o.showInviteLinks = &condomail.Outbox{}, true
	cfg.Mail = &condomail.Config{Sender: o.outbox, From: "noreply@" + f.base, FromName: "Hotels", Templates: notify.Templates()}
	cfg.Serve = condostack.ServeConfig{
		BaseDomains:     []string{f.base},
		Redirect:        condohttp.RedirectNever, // both schemes work, for a browser that does not trust the CA yet
		ShutdownTimeout: 5 * time.Second,
		// No HSTS in development, whatever --base-domain is: a
		// certificate from the development CA must never pin a name to
		// HTTPS in a browser (condohttp already sends none for
		// *.localhost and IP addresses).
		HSTSMaxAge: -1,
	}
	var ca *condocert.DevCA
	caNew := false
	if f.httpsAddr != "" {
		caDir := filepath.Join(f.stateDir, "ca")
		_, statErr := os.Stat(caDir)
		caNew = errors.Is(statErr, fs.ErrNotExist)
		var err error
		if ca, err = condocert.NewDevCA(caDir); err != nil {
			return err
		}
		cfg.Serve.TLSConfig = ca.TLSConfig()
	}
	ls, err := listenDev(ctx, f)
	if err != nil {
		return err
	}
	cfg.Serve.Listeners = ls.Listeners
	st, err := condostack.Open(ctx, cfg)
	if err != nil {
		ls.close()
		return err
	}
	defer st.Close()
	if _, err := st.Migrator.MigrateShared(ctx, nil); err != nil {
		ls.close()
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := st.MigrateJobs(ctx); err != nil {
		ls.close()
		return fmt.Errorf("migrate jobs: %w", err)
	}
	if _, err := st.Migrator.MigrateTenants(ctx, st.Registry, nil); err != nil {
		ls.close()
		return fmt.Errorf("migrate tenants: %w", err)
	}
	a, err := newApp(ctx, st, o)
	if err != nil {
		ls.close()
		return err
	}
	created, err := seedDemo(ctx, st, a.store)
	if err != nil {
		ls.close()
		return fmt.Errorf("demo data: %w", err)
	}
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
  Sent mail        %sdev/mail
`, time.Since(start).Seconds(), data, site("http", ls.HTTP, ""), site("http", ls.HTTP, "acme"),
		site("http", ls.HTTP, "globex"), site("http", ls.HTTP, "admin"), site("http", ls.HTTP, "admin"))
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
	a.usage.Start(ctx)
	err = st.Serve(ctx, a.handlers)
	a.usage.Stop()
	fmt.Fprintln(out, "Stopping.")
	return err
}

// listenDev opens, before the database, dev's HTTP and, unless --https is "", HTTPS sockets.
func listenDev(ctx context.Context, f devFlags) (devSockets, error) {
	var ls condohttp.Listeners
	var lc net.ListenConfig
	var err error
	if ls.HTTP, err = lc.Listen(ctx, "tcp", f.addr); err != nil {
		return devSockets{}, fmt.Errorf("%w (choose another address with --addr)", err)
	}
	if f.httpsAddr != "" {
		if ls.HTTPS, err = lc.Listen(ctx, "tcp", f.httpsAddr); err != nil {
			ls.HTTP.Close()
			return devSockets{}, fmt.Errorf("%w (choose another address with --https, or none with --https \"\")", err)
		}
	}
	return devSockets{ls}, nil
}

// devSockets are dev's listeners; close closes them when dev fails before
// the server took them over.
type devSockets struct{ condohttp.Listeners }

func (d devSockets) close() {
	for _, l := range []net.Listener{d.HTTP, d.HTTPS} {
		if l != nil {
			l.Close()
		}
	}
}
