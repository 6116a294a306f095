package main

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/admin"
	"github.com/condo-dev/condo/examples/hotels/notify"
	"github.com/condo-dev/condo/examples/hotels/site"
	"github.com/condo-dev/condo/examples/hotels/tenantapp"
	"github.com/condo-dev/condo/examples/hotels/thumbs"
	"github.com/condo-dev/condo/examples/hotels/usage"
	"github.com/condo-dev/condo/examples/hotels/web"
)

// defaultStateDir is where the development cluster lives, relative to the
// current directory (the repository's .gitignore lists it).
const defaultStateDir = ".condo"

// options are what main, and tests, choose about the app.
type options struct {
	// stateDir is the default --state-dir and where the CLI looks for the
	// development cluster.
	stateDir string
	// accounts tunes the account store (tests lower argon2's cost).
	accounts *accounts.Config
	// usageInterval is how often request counts are written.
	usageInterval time.Duration
	// reports is the nightly report's worker, registered by stackConfig;
	// newApp gives it the store and the mailer.
	reports *notify.Reports
	// thumbs makes photo thumbnails, registered by stackConfig; newApp
	// gives it the file store.
	thumbs *thumbs.Thumbs
	// outbox, in development, keeps the mail sent, for /dev/mail; and
	// showInviteLinks keeps invitation links on screen though they are
	// mailed.
	outbox          *condomail.Outbox
	showInviteLinks bool
	// getenv, stdout and stderr default to the process's.
	getenv         func(string) string
	stdout, stderr io.Writer
	logger         *slog.Logger
}

// hotelsApp is the reference app over one database: its handlers and the
// request counter behind the admin's chart.
type hotelsApp struct {
	store    *accounts.Store
	usage    *usage.Counter
	handlers condohttp.Handlers
}

// newApp builds the app over st. Its own queries on shared tables
// (accounts, sessions, throttling, invitations, request counts) run on
// st.SharedPool: with split roles the runtime role's shared role, which
// holds only migrations.RuntimeGrants. The owner (st.Pool) reads the CSRF key once,
// here, and behind the Registry creates, suspends and deletes tenants:
// signup writes its user, membership and hand-off in the owner's
// tenant-creating transaction.
func newApp(ctx context.Context, st *condostack.Stack, o *options) (*hotelsApp, error) {
	logger := cmp.Or(o.logger, st.Logger)
	acfg := accounts.Config{}
	if o.accounts != nil {
		acfg = *o.accounts
	}
	acfg.Logger = logger
	store := accounts.New(st.SharedPool, &acfg)
	if err := store.LoadKey(ctx, st.Pool); err != nil {
		return nil, err
	}
	// Photo URLs are signed with a key derived from the database's
	// secret, so every instance serves the URLs any of them signs.
	files := st.Files
	if files != nil {
		key, err := store.DeriveKey(ctx, "file-urls")
		if err != nil {
			return nil, err
		}
		files = files.WithSigningKey(key)
	}
	counter := usage.New(st.SharedPool, &usage.Config{Interval: o.usageInterval, Logger: logger})
	tenant, err := tenantapp.New(st.Registry, store, &tenantapp.Config{
		API:   web.NewTenant(st.Registry, &web.Config{Logger: logger, Pools: st.TenantPools}),
		Files: files, Jobs: st.Jobs,
		Mail: st.Mail, ShowInviteLinks: o.showInviteLinks,
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	public, err := site.New(st.Registry, store, &site.Config{Mail: st.Mail, Logger: logger})
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(st.Registry, store, &admin.Config{Logger: logger, Files: files, Outbox: o.outbox})
	if err != nil {
		return nil, err
	}
	if o.reports != nil {
		o.reports.Use(store, st.Mail)
	}
	if o.thumbs != nil {
		o.thumbs.Use(files)
	}
	return &hotelsApp{
		store: store,
		usage: counter,
		handlers: condohttp.Handlers{
			Public:   public,
			Tenant:   counter.Middleware(tenant),
			Reserved: map[string]http.Handler{"admin": adm},
			Logger:   logger,
		},
	}, nil
}
