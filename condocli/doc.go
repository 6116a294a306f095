// Package condocli is Condo's operations commands, built with cobra, for
// applications to embed (as river's rivercli is): the manage.py
// migrate_schemas experience, and more. The commands parse flags and
// print; what they decide is the library's.
//
//	cli := condocli.New(&condocli.Config{
//		Name:  "hotels",
//		Stack: &condostack.Config{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant()},
//	})
//	cli.Command().AddCommand(newServeCmd(cli)) // the application's own
//	os.Exit(cli.Main())
//
// # Commands
//
// migrate, tenants (create, list, show, update, suspend, resume, rename,
// domains, delete, export, import, exec), proxy-config, certs, doctor
// (checks a deployment: server version, the login role's privileges,
// connections against the instances' pools, pending migrations, the
// certificate key, clock skew), harden and runtime-grant.
//
// # The stack
//
// Every command works on one [condostack.Stack], opened on first use
// ([CLI.Open]) from [Config].Stack and the database the command line
// names: --database-url or DATABASE_URL; behind a transaction pooler
// (detected, or said with --pooler/CONDO_POOLER), migrate and serve also
// need --direct-database-url or CONDO_DIRECT_DATABASE_URL, straight to
// PostgreSQL, for the migration lock, long DDL and LISTEN.
//
// # Serving
//
// serve is the application's: it owns its handlers and what runs after
// the server stops. [CLI.ServeFlags] binds serve's flags and CONDO_*
// variables, and [ServeFlags.Apply] writes them into the
// [condostack.Config] that [CLI.StackConfig] returns, so every deployment
// is configured the same way:
//
//	cfg, err := cli.StackConfig(ctx)
//	if err == nil { err = flags.Apply(cfg) }
//	st, err := condostack.Open(ctx, cfg)
//	defer st.Close()
//	err = st.Serve(ctx, handlers)
//
// # Errors
//
// Errors go to standard error and make the exit code non-zero, and so do
// an unknown command ([ErrUnknownCommand]) and a missing argument, which
// is named ([Args]).
package condocli
