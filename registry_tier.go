package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
)

// createDatabase is [Registry.Create] for [TierDatabase].
//
// CREATE DATABASE cannot run in a transaction, so the steps are ordered
// for failure: the role and the database first (the tenant does not exist
// yet: nothing serves them), then its schema and migrations in one
// transaction there, and last the registry row, domains, catalog and
// hooks in one transaction on the registry's database: the tenant exists
// when, and only when, that commits. Any failure drops the database and
// the role again. A crash between the steps leaves a database (and role)
// with no registry row, named like every tenant database
// (<prefix>tenant_<id>): [Registry.OrphanDatabases] finds it, and the CLI's
// doctor reports it.
func (r *Registry) createDatabase(ctx context.Context, p CreateParams, hosts []string) (*Tenant, error) {
	ts := r.tier
	if ts.box == nil {
		return nil, ts.keyErr
	}
	server := p.Server
	if server == MainServer {
		server = ""
	}
	if _, err := ts.server(server); err != nil {
		return nil, err
	}
	t := &Tenant{Slug: p.Slug, Name: p.Name, Status: StatusActive, PaidUntil: p.PaidUntil, OnTrial: p.OnTrial,
		Tier: TierDatabase, Server: server}
	var prefix string
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		if prefix, err = r.prefix(ctx, tx); err != nil {
			return err
		}
		var taken bool
		// Checked early, so a taken slug costs no database; the insert
		// below checks again.
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM public.condo_tenants WHERE slug = $1)", p.Slug).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return ErrTenantExists
		}
		return tx.QueryRow(ctx, "SELECT nextval('public.condo_tenants_id_seq')").Scan(&t.ID)
	})
	if err != nil {
		return nil, err
	}
	t.Schema = "tenant_" + strconv.FormatInt(t.ID, 10)
	t.Role = prefix + t.Schema
	t.Database = databaseName(prefix, t.ID)
	for kind, name := range map[string]string{"schema": t.Schema, "role": t.Role, "database": t.Database} {
		if err := pgident.Validate(kind, name); err != nil {
			return nil, err
		}
	}
	password := newPassword()
	t.SealedPassword = ts.box.Seal([]byte(password), passwordAD(t.ID))

	admin, err := ts.connectAs(ctx, server, "")
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var citus string
	if err := admin.QueryRow(ctx, "SELECT COALESCE((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), '')").Scan(&citus); err != nil {
		return nil, fmt.Errorf("server %q: %w", serverKey(server), err)
	}
	if citus != "" {
		// CREATE DATABASE on a Citus coordinator makes a database on the
		// coordinator alone (without citus.enable_create_database_propagation,
		// and then with neither the extension nor the workers' metadata):
		// a tenant there would silently not be distributed.
		return nil, fmt.Errorf("server %q runs Citus %s: %w (use the schema tier, which Citus distributes)", serverKey(server), citus, ErrTierUnsupported)
	}

	ro, db := pgident.Quote(t.Role), pgident.Quote(t.Database)
	undo := func(cause error) error {
		// A hook may have opened the tenant's pool (InTx): dropDatabase
		// closes it and ends any session left.
		if derr := r.dropDatabase(context.WithoutCancel(ctx), t); derr != nil {
			return fmt.Errorf("%w (and undoing it: %w: database %q is an orphan)", cause, derr, t.Database)
		}
		return cause
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return nil, err
	}
	// The verifier is base64 and punctuation: a literal with nothing to
	// escape.
	if _, err := admin.Exec(ctx, "CREATE ROLE "+ro+" LOGIN NOINHERIT PASSWORD '"+verifier+"'"); err != nil {
		return nil, fmt.Errorf("create tenant role: %w", translateTier(err))
	}
	for _, stmt := range []string{
		// The owner role owns the database, its schema and its tables;
		// the tenant's role may connect to it and use what is granted.
		"CREATE DATABASE " + db,
		"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + db + " TO " + ro,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			return nil, undo(fmt.Errorf("create tenant database: %w", translateTier(err)))
		}
	}
	target := r.createVersion(p.version)
	if err := r.makeTenantSchema(ctx, t, target); err != nil {
		return nil, undo(err)
	}
	if err := r.registerDatabase(ctx, t, p, hosts, target); err != nil {
		return nil, undo(err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant created", slog.String("tenant", t.Slug), slog.String("schema", t.Schema),
		slog.String("tier", string(t.Tier)), slog.String("server", serverKey(t.Server)), slog.String("database", t.Database))
	return t, nil
}

// makeTenantSchema makes t's schema in its database, as the schema tier
// does in the registry's (same name, history table, grants and default
// privileges), and applies the tenant migrations up to target, in one
// transaction.
func (r *Registry) makeTenantSchema(ctx context.Context, t *Tenant, target int64) error {
	conn, err := r.tier.connectAs(ctx, t.Server, t.Database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		s, ro := pgident.Quote(t.Schema), pgident.Quote(t.Role)
		ddl := "CREATE SCHEMA " + s + ";\n" +
			"SET LOCAL search_path TO " + s + ";\n" + condomigrate.TenantHistoryDDL + ";\n" +
			"GRANT USAGE ON SCHEMA " + s + " TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + ro + ";\n"
		if err := execScript(ctx, tx, ddl); err != nil {
			return fmt.Errorf("make tenant schema: %w", err)
		}
		if target == 0 {
			return nil
		}
		v, err := r.migrator.ApplyTenantDatabaseTx(ctx, tx, t.Slug, t.Schema, target)
		if err != nil {
			return err
		}
		if v != target {
			return fmt.Errorf("migrated to %d, want %d", v, target)
		}
		return nil
	})
}

// registerDatabase writes t's registry row, domains and the tenant
// catalog, and runs the creation hooks, in one transaction on the
// registry's database.
func (r *Registry) registerDatabase(ctx context.Context, t *Tenant, p CreateParams, hosts []string, target int64) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var server *string
		if t.Server != "" {
			server = &t.Server
		}
		err := tx.QueryRow(ctx, `INSERT INTO public.condo_tenants (id, slug, name, schema_name, role_name, paid_until, on_trial,
			migration_version, tier, server, database_name, role_password)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'database', $9, $10, $11) RETURNING created_on`,
			t.ID, t.Slug, t.Name, t.Schema, t.Role, dateArg(t.PaidUntil), t.OnTrial, target, server, t.Database, t.SealedPassword).Scan(&t.CreatedOn)
		if err != nil {
			return translate(err)
		}
		t.MigrationVersion = target
		if len(hosts) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO public.condo_domains (host, tenant_id, is_primary, verified_at)
				SELECT h, $2, o = 1, now() FROM unnest($1::text[]) WITH ORDINALITY AS u(h, o)`,
				hosts, t.ID); err != nil {
				return translate(err)
			}
			for i, h := range hosts {
				t.Domains = append(t.Domains, Domain{Host: h, Primary: i == 0, Verified: true})
			}
		}
		if err := r.migrator.RecordTenantCatalogTx(ctx, tx, target); err != nil {
			return err
		}
		if err := notify(ctx, tx, Change{Op: "create", ID: t.ID, Slug: t.Slug, Hosts: hosts}); err != nil {
			return err
		}
		hooks := []OnTenantCreatedFunc{r.hook, p.OnCreated}
		if p.skipHooks {
			hooks = hooks[1:]
		}
		for _, hook := range hooks {
			if hook == nil {
				continue
			}
			// The registry's database holds no schema of this tenant:
			// nothing unqualified resolves (see OnTenantCreatedFunc).
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO ''"); err != nil {
				return err
			}
			if err := hook(ctx, tx, t); err != nil {
				return fmt.Errorf("tenant %q created hook: %w", t.Slug, err)
			}
		}
		return nil
	})
}

// dropDatabase drops database-tier tenant t's database and role, after
// its registry row is gone, closing this registry's pool of it first. The
// owner makes itself a member of the role (inheriting, on 16+) so that
// DROP DATABASE … WITH (FORCE) may end the sessions other instances still
// hold as that role.
func (r *Registry) dropDatabase(ctx context.Context, t *Tenant) error {
	r.tier.pools.forget(t.ID)
	if err := pgident.Validate("role", t.Role); err != nil {
		return err
	}
	if err := pgident.Validate("database", t.Database); err != nil {
		return err
	}
	admin, err := r.tier.connectAs(ctx, t.Server, "")
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var num int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return err
	}
	ro, db := pgident.Quote(t.Role), pgident.Quote(t.Database)
	grant := "GRANT " + ro + " TO CURRENT_USER"
	if num >= 160000 {
		grant += " WITH INHERIT TRUE"
	}
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", t.Role).Scan(&exists); err != nil {
		return err
	}
	stmts := []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)"}
	if exists {
		stmts = []string{grant, stmts[0], "DROP ROLE " + ro}
	}
	for _, stmt := range stmts {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("drop tenant database %q: %w", t.Database, err)
		}
	}
	return nil
}

// translateTier maps errors of the database tier's DDL.
func translateTier(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return dbError(err)
}
