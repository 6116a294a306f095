package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/riverqueue/river"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/examples/hotels/notify"
	"github.com/condo-dev/condo/examples/hotels/thumbs"
)

func main() {
	os.Exit(newCLI(&options{stateDir: defaultStateDir}).Main())
}

// stackConfig is the app's part of Condo's configuration; the database
// and the edge come from the command line. Background jobs are on (the
// nightly report, photo thumbnails; mail when it is configured): their
// workers are registered here, before the stack is built, and get what
// they use from newApp (o.reports, o.thumbs).
func stackConfig(o *options) *condostack.Config {
	ws := condojobs.NewWorkers()
	o.reports = notify.NewReports(ws)
	o.thumbs = thumbs.New(ws, o.logger)
	return &condostack.Config{
		SharedMigrations: migrations.Shared(),
		TenantMigrations: migrations.Tenant(),
		RuntimeGrants:    migrations.RuntimeGrants(),
		Jobs:             &condojobs.Config{Workers: ws, PeriodicJobs: []*river.PeriodicJob{notify.Nightly()}},
	}
}

// mailConfig is serve's mail: SMTP_URL (smtp://user:password@host:587,
// ?tls=none for a relay on loopback, ?tls=opportunistic) and MAIL_FROM
// (defaults to noreply@ the first base domain). Without SMTP_URL, no
// mail: invitation links are shown on screen.
func mailConfig(getenv func(string) string, base []string) (*condomail.Config, error) {
	raw := getenv("SMTP_URL")
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		// The URL may hold a password: not repeated in the error.
		return nil, errors.New("SMTP_URL: want smtp://user:password@host:port")
	}
	sc := &condomail.SMTPConfig{Host: u.Hostname(), Username: u.User.Username()}
	sc.Password, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if sc.Port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL: port %q", p)
		}
	}
	switch u.Query().Get("tls") {
	case "", "mandatory":
	case "opportunistic":
		sc.TLS = condomail.TLSOpportunistic
	case "none":
		sc.TLS = condomail.TLSNone
	default:
		return nil, fmt.Errorf("SMTP_URL: tls=%q: want mandatory, opportunistic or none", u.Query().Get("tls"))
	}
	sender, err := condomail.NewSMTP(sc)
	if err != nil {
		return nil, err
	}
	domain := "localhost"
	if len(base) > 0 {
		domain = base[0]
	}
	from := getenv("MAIL_FROM")
	if from == "" {
		from = "noreply@" + domain
	}
	return &condomail.Config{Sender: sender, From: from, Templates: notify.Templates()}, nil
}

// newCLI is the whole command line: Condo's operations commands over the
// app's migrations, and the app's own serve, dev, admin and directory.
func newCLI(o *options) *condocli.CLI {
	stack := stackConfig(o)
	if err := setFiles(stack, o.getenv, o.stateDir); err != nil {
		panic(err) // filepath.Abs fails only without a working directory
	}
	cfg := &condocli.Config{
		Name:   "hotels",
		Short:  "Condo's reference multi-tenant SaaS: hotels and rooms",
		Stack:  stack,
		Getenv: o.getenv,
		Logger: o.logger,
		DefaultDatabase: func(ctx context.Context) (string, func(), error) {
			return defaultDatabase(ctx, o.stateDir)
		},
	}
	if o.stdout != nil {
		cfg.Stdout = o.stdout
	}
	if o.stderr != nil {
		cfg.Stderr = o.stderr
	}
	cli := condocli.New(cfg)
	cli.Command().AddCommand(newServeCmd(cli, o), newDevCmd(cli, o), newAdminCmd(cli), newDirectoryCmd(cli))
	return cli
}

// newServeCmd is "hotels serve": the stack from the command line's flags
// and environment, the app's handlers on it.
func newServeCmd(cli *condocli.CLI, o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP(S) server",
		Long:  condocli.ServeLong,
		Args:  cobra.NoArgs,
	}
	flags := cli.ServeFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		cfg, err := cli.StackConfig(ctx)
		if err != nil {
			return err
		}
		if err := flags.Apply(cfg); err != nil {
			return err
		}
		getenv := o.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if cfg.Mail, err = mailConfig(getenv, cfg.Serve.BaseDomains); err != nil {
			return err
		}
		st, err := condostack.Open(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		a, err := newApp(ctx, st, o)
		if err != nil {
			return err
		}
		a.usage.Start(context.WithoutCancel(ctx))
		err = st.Serve(ctx, a.handlers)
		// Every request has finished: the counts of those that finished
		// during the shutdown are written too, before the pools close.
		a.usage.Stop()
		return err
	}
	return cmd
}
