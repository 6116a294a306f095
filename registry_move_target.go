package condo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
)

// makeTarget makes m's target for tenant t at m.Version, as a creation in
// that tier would (role, database, schema, history, grants, migrations),
// dropping first whatever a killed attempt left there: before the switch
// the target serves nothing.
func (r *Registry) makeTarget(ctx context.Context, m *TierMove, t *Tenant) error {
	tt := *t
	tt.Tier, tt.Server, tt.Database = m.To.Tier, m.To.Server, m.To.Database
	if m.To.Tier == TierDatabase {
		if err := r.dropTenantDatabase(ctx, m.To.Server, m.To.Database, t.Role, false); err != nil {
			return err
		}
		if err := r.ensureRole(ctx, m, t); err != nil {
			return err
		}
		admin, err := r.tier.connectAs(ctx, m.To.Server, "")
		if err != nil {
			return err
		}
		defer admin.Close(context.WithoutCancel(ctx))
		ro, db := pgident.Quote(t.Role), pgident.Quote(m.To.Database)
		for _, stmt := range []string{
			"CREATE DATABASE " + db,
			"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
			"GRANT CONNECT ON DATABASE " + db + " TO " + ro,
		} {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				return translateTier(err)
			}
		}
		return r.makeTenantSchema(ctx, &tt, m.Version)
	}
	// The schema tier: in the registry's database, as Create makes it.
	if err := r.ensureRole(ctx, m, t); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		s, ro := pgident.Quote(t.Schema), pgident.Quote(t.Role)
		ddl := "DROP SCHEMA IF EXISTS " + s + " CASCADE;\n" +
			"CREATE SCHEMA " + s + ";\n" +
			"SET LOCAL search_path TO " + s + ";\n" + condomigrate.TenantHistoryDDL + ";\n" +
			condomigrate.TenantHistoryReplicaIdentityDDL + ";\n" +
			"GRANT USAGE ON SCHEMA " + s + " TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + ro + ";\n"
		if err := execScript(ctx, tx, ddl); err != nil {
			return fmt.Errorf("make tenant schema: %w", err)
		}
		if m.Version == 0 {
			return nil
		}
		v, err := r.migrator.ApplyTenantDatabaseTx(ctx, tx, t.Slug, t.Schema, m.Version)
		if err != nil {
			return err
		}
		if v != m.Version {
			return fmt.Errorf("migrated to %d, want %d", v, m.Version)
		}
		return nil
	})
}

// ensureRole makes sure the tenant's role exists on the target's server.
// On the registry's server the role may be serving the source (the same
// role name in either tier): it is left as it is, and the switch gives it
// LOGIN or takes it away in the registry's transaction. On another server
// it serves nothing yet, so it gets its login and password now.
func (r *Registry) ensureRole(ctx context.Context, m *TierMove, t *Tenant) error {
	admin, err := r.tier.connectAs(ctx, m.To.Server, "")
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", t.Role).Scan(&exists); err != nil {
		return err
	}
	ro := pgident.Quote(t.Role)
	if serverKey(m.To.Server) == MainServer {
		if exists {
			return nil
		}
		_, err := admin.Exec(ctx, "CREATE ROLE "+ro+" NOLOGIN NOINHERIT")
		return translateTier(err)
	}
	verifier, err := r.moveVerifier(m)
	if err != nil {
		return err
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// The verifier is base64 and punctuation: a literal with nothing to
	// escape.
	if _, err := admin.Exec(ctx, verb+" ROLE "+ro+" LOGIN NOINHERIT PASSWORD '"+verifier+"'"); err != nil {
		return fmt.Errorf("tenant role: %w", translateTier(err))
	}
	return nil
}

// moveVerifier is the SCRAM verifier of m's target password.
func (r *Registry) moveVerifier(m *TierMove) (string, error) {
	if r.tier.box == nil {
		return "", r.tier.keyErr
	}
	pw, err := r.tier.box.Open(m.toPassword, passwordAD(m.TenantID))
	if err != nil {
		return "", fmt.Errorf("tenant %q target password: %w", m.Slug, err)
	}
	return scramVerifier(string(pw))
}

// switchMove points the registry at m's target, in tx (the source's
// fencing transaction, when the source is in the registry's database) or
// in a transaction of its own. It is idempotent: Finish may call it again
// on resume. It moves the runtime roles' grants with the tenant: one
// leaving the schema tier can no longer be reached through the shared
// runtime roles, and its role logs in on the registry's server only when
// its database is there; one coming back is granted to them again and
// logs in nowhere.
func (r *Registry) switchMove(ctx context.Context, m *TierMove, tx pgx.Tx) error {
	r.moveHook(ctx, "switch")
	if tx == nil {
		return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return r.switchMove(ctx, m, tx) })
	}
	var role, slug string
	var version int64
	var runtimeRoles, allRuntime []string
	err := tx.QueryRow(ctx, `SELECT role_name, slug, migration_version, (`+runtimeRolesSQL("condo_tenants.id")+`),
			(SELECT coalesce(array_agg(rr.role_name ORDER BY rr.role_name), '{}') FROM public.condo_runtime_roles rr
			 JOIN pg_catalog.pg_roles r ON r.rolname = rr.role_name)
		FROM public.condo_tenants WHERE id = $1 FOR UPDATE`, m.TenantID).Scan(&role, &slug, &version, &runtimeRoles, &allRuntime)
	if err != nil {
		return fmt.Errorf("lock tenant: %w", err)
	}
	if version != m.Version {
		// Fleet migrations refuse a moving tenant; this catches one that
		// got past (a run started before the move, committed after).
		return fmt.Errorf("tenant migrated to %d during the move (target made at %d): roll back and move again", version, m.Version)
	}
	ro := pgident.Quote(role)
	var stmts []string
	switch {
	case m.To.Tier == TierSchema:
		stmts = append(stmts, "ALTER ROLE "+ro+" NOLOGIN PASSWORD NULL")
		grants, err := r.grantRuntimeSQL(runtimeRoles, ro)
		if err != nil {
			return err
		}
		if grants != "" {
			stmts = append(stmts, grants)
		}
	default:
		if serverKey(m.To.Server) == MainServer {
			verifier, err := r.moveVerifier(m)
			if err != nil {
				return err
			}
			stmts = append(stmts, "ALTER ROLE "+ro+" LOGIN NOINHERIT PASSWORD '"+verifier+"'")
		}
		if m.From.Tier == TierSchema {
			for _, rt := range allRuntime {
				if err := pgident.ValidateGiven("role", rt); err != nil {
					return err
				}
				stmts = append(stmts, "REVOKE "+ro+" FROM "+pgident.Quote(rt))
			}
		}
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("switch roles: %w", err)
		}
	}
	var hosts []string
	err = tx.QueryRow(ctx, `WITH u AS (
			UPDATE public.condo_tenants SET tier = $2, server = NULLIF($3, ''), database_name = NULLIF($4, ''),
				role_password = CASE WHEN $2 = 'database' THEN $5::bytea END, updated_at = now()
			WHERE id = $1),
		mv AS (UPDATE public.condo_tier_moves SET phase = 'switched', switched_at = coalesce(switched_at, now()), updated_at = now()
			WHERE tenant_id = $1)
		SELECT coalesce(array_agg(host ORDER BY host), '{}') FROM public.condo_domains WHERE tenant_id = $1`,
		m.TenantID, m.To.Tier, m.To.Server, m.To.Database, m.toPassword).Scan(&hosts)
	if err != nil {
		return fmt.Errorf("switch registry: %w", err)
	}
	return notify(ctx, tx, Change{Op: "move", ID: m.TenantID, Slug: slug, Hosts: hosts, Server: m.To.Server, Database: m.To.Database})
}

// dropTenantDatabase drops database on server, and the tenant's role
// there when dropRole is set (the tenant does not live on that server any
// more). The owner makes itself a member of the role first (inheriting, on
// 16+) so that DROP DATABASE … WITH (FORCE) may end the role's sessions.
func (r *Registry) dropTenantDatabase(ctx context.Context, server, database, role string, dropRole bool) error {
	if err := pgident.Validate("role", role); err != nil {
		return err
	}
	if err := pgident.Validate("database", database); err != nil {
		return err
	}
	admin, err := r.tier.connectAs(ctx, server, "")
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var num int
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
		role).Scan(&num, &exists); err != nil {
		return err
	}
	ro, db := pgident.Quote(role), pgident.Quote(database)
	grant := "GRANT " + ro + " TO CURRENT_USER"
	if num >= 160000 {
		grant += " WITH INHERIT TRUE"
	}
	stmts := []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)"}
	if exists {
		stmts = append([]string{grant}, stmts...)
		if dropRole {
			stmts = append(stmts, "DROP ROLE "+ro)
		}
	}
	for _, stmt := range stmts {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("drop tenant database %q on %s: %w", database, serverKey(server), err)
		}
	}
	return nil
}

// MoveOf returns the recorded move between tiers of the tenant named
// slug: in progress, or switched with its old copy waiting. Returns
// [ErrNoMove] when there is none, [ErrTenantNotFound].
func (r *Registry) MoveOf(ctx context.Context, slug string) (*TierMove, error) {
	return r.moveOf(ctx, slug)
}

// moveOf reads the recorded move of the tenant named slug. Returns
// [ErrNoMove].
func (r *Registry) moveOf(ctx context.Context, slug string) (*TierMove, error) {
	ms, err := r.queryMoves(ctx, "WHERE t.slug = $1", slug)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		if _, err := r.Get(ctx, slug); err != nil {
			return nil, err
		}
		return nil, ErrNoMove
	}
	return &ms[0], nil
}

// TierMoves returns the moves between tiers the registry records: those
// in progress and those switched whose old copy waits for the grace
// period, oldest first.
func (r *Registry) TierMoves(ctx context.Context) ([]TierMove, error) {
	return r.queryMoves(ctx, "")
}

func (r *Registry) queryMoves(ctx context.Context, where string, args ...any) ([]TierMove, error) {
	rows, err := r.pool.Query(ctx, `SELECT m.tenant_id, t.slug, m.from_tier, coalesce(m.from_server, ''), coalesce(m.from_database, ''),
			m.to_tier, coalesce(m.to_server, ''), coalesce(m.to_database, ''), m.to_password, m.version, m.phase, m.rows_copied,
			(extract(epoch FROM coalesce(m.write_pause, '0')) * 1000000)::bigint, m.started_at, m.updated_at, m.switched_at
		FROM public.condo_tier_moves m JOIN public.condo_tenants t ON t.id = m.tenant_id `+where+` ORDER BY m.started_at, m.tenant_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read tier moves: %w", err)
	}
	var ms []TierMove
	var m TierMove
	var pauseMicros int64
	if _, err := pgx.ForEachRow(rows, []any{&m.TenantID, &m.Slug, &m.From.Tier, &m.From.Server, &m.From.Database,
		&m.To.Tier, &m.To.Server, &m.To.Database, &m.toPassword, &m.Version, &m.Phase, &m.Rows,
		&pauseMicros, &m.StartedAt, &m.UpdatedAt, &m.SwitchedAt}, func() error {
		m.WritePause = time.Duration(pauseMicros) * time.Microsecond
		ms = append(ms, m)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read tier moves: %w", err)
	}
	return ms, nil
}
