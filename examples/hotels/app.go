package main

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/admin"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/examples/hotels/site"
	"github.com/condo-dev/condo/examples/hotels/tenantapp"
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
	// getenv, stdout and stderr default to the process's.
	getenv         func(string) string
	stdout, stderr io.Writer
	logger         *slog.Logger
}

// newConfig is the whole command line: Condo's commands with the app's
// migrations and handlers, plus dev and admin.
func newConfig(o *options) *condocli.Config {
	var served *hotelsApp // the app serve built, for its Stopped hook
	cfg := &condocli.Config{
		Name:             "hotels",
		Short:            "Condo's reference multi-tenant SaaS: hotels and rooms",
		SharedMigrations: migrations.Shared(),
		TenantMigrations: migrations.Tenant(),
		RuntimeGrants:    migrations.RuntimeGrants(),
		Getenv:           o.getenv,
		Logger:           o.logger,
		DefaultDatabase: func(ctx context.Context) (string, func(), error) {
			return defaultDatabase(ctx, o.stateDir)
		},
		Serve: &condocli.ServeConfig{
			Handlers: func(ctx context.Context, env *condocli.Env) (condohttp.Handlers, error) {
				a, err := newApp(ctx, env, o)
				if err != nil {
					return condohttp.Handlers{}, err
				}
				// Counts are written every few seconds and once more when
				// serve has drained its requests (Stopped), so requests that
				// finish during the shutdown are counted too.
				a.usage.Start(context.WithoutCancel(ctx))
				served = a
				return a.handlers, nil
			},
			Stopped: func(context.Context) {
				if served != nil {
					served.usage.Stop()
				}
			},
		},
	}
	if o.stdout != nil {
		cfg.Stdout = o.stdout
	}
	if o.stderr != nil {
		cfg.Stderr = o.stderr
	}
	cfg.Commands = []*cobra.Command{newDevCmd(cfg, o), newAdminCmd(cfg), newDirectoryCmd(cfg)}
	return cfg
}

// hotelsApp is the reference app over one database: its handlers and the
// request counter behind the admin's chart.
type hotelsApp struct {
	store    *accounts.Store
	usage    *usage.Counter
	handlers condohttp.Handlers
}

// newApp builds the app over env. Its own queries on shared tables
// (accounts, sessions, throttling, invitations, request counts) run on
// env.SharedPool: with split roles the runtime role's shared role, which
// holds only migrations.RuntimeGrants. The owner (env.Pool) reads the CSRF key once,
// here, and behind the Registry creates, suspends and deletes tenants:
// signup writes its user, membership and hand-off in the owner's
// tenant-creating transaction.
func newApp(ctx context.Context, env *condocli.Env, o *options) (*hotelsApp, error) {
	logger := cmp.Or(o.logger, env.Logger)
	acfg := accounts.Config{}
	if o.accounts != nil {
		acfg = *o.accounts
	}
	acfg.Logger = logger
	store := accounts.New(env.SharedPool, &acfg)
	if err := store.LoadKey(ctx, env.Pool); err != nil {
		return nil, err
	}
	counter := usage.New(env.SharedPool, &usage.Config{Interval: o.usageInterval, Logger: logger})
	tenant, err := tenantapp.New(env.Registry, store, &tenantapp.Config{
		API:    web.NewTenant(env.Registry, &web.Config{Logger: logger, Pools: env.TenantPools}),
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	public, err := site.New(env.Registry, store, &site.Config{Logger: logger})
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(env.Registry, store, &admin.Config{Logger: logger})
	if err != nil {
		return nil, err
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
