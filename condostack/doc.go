// Package condostack assembles Condo from one [Config]: the owner's pool
// (and a direct one behind a transaction pooler), the runtime role's pool
// with split roles, the migrator, the registry, the resolver, tenant-affine
// pools, and on [Stack.Serve] the HTTP(S) edge with its certificates.
//
// It is what an application's main calls; package condocli's operations
// commands take the same [Stack]. Nothing here reads flags or environment
// variables: the application (or condocli's flag binding) fills the
// [Config].
//
// # Serving
//
//	st, err := condostack.Open(ctx, &condostack.Config{
//		DatabaseURL:      os.Getenv("DATABASE_URL"),
//		TenantMigrations: migrations.Tenant,
//		Serve:            condostack.ServeConfig{BaseDomains: []string{"example.com"}},
//	})
//	if err != nil { ... }
//	defer st.Close()
//	err = st.Serve(ctx, condohttp.Handlers{Tenant: app})
//	// Serve has returned: every request in flight has finished, the
//	// database is still open: flush what the handlers buffered here.
//
// # Waiting for the database
//
// With [Config].DBWait set, [Open] retries a database that cannot be
// reached yet (starting alongside, failing over) and meanwhile answers on
// [ServeConfig].HTTPAddr: /healthz 200, everything else 503. The socket is
// handed to the real server by [Stack.Serve] without closing it, so no
// client is refused in between.
package condostack
