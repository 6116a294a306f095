package condo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/internal/pgident"
)

// setConfigFunc is the one function with which a single SQL statement can
// change the current role: set_config('role', 'none', true) is RESET ROLE
// inside an expression, so an injected SELECT could leave the tenant role
// and read everything the login role can. PostgreSQL grants it to PUBLIC.
// (SET ROLE and RESET ROLE themselves are statements: no privilege covers
// them, and they need a statement of their own.)
const setConfigFunc = "pg_catalog.set_config(text, text, boolean)"

// DBTX runs SQL: a *pgx.Conn, a *pgxpool.Pool or a pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// HardenSQL returns the statements that take set_config away from every
// role of the current database except the given login roles (the
// application's, which needs it to switch tenants in [Registry.QueryTenant]),
// so that one injected statement can no longer leave a tenant role. The
// roles get it WITH GRANT OPTION so that they can pass it on (to a runtime
// role made later, say) without a superuser.
//
// Only the function's owner, the bootstrap superuser, may run them, once per
// database (function privileges live in each database): on a managed
// database an operator runs them as the most privileged user offered.
// Every other role that calls set_config in that database must be listed
// too (pg_dump does, for one). The statements can run again harmlessly.
//
// Returns a [*NameError] for an empty or unusable role name, and an error
// if no role is given.
func HardenSQL(roles ...string) (string, error) {
	if len(roles) == 0 {
		return "", errors.New("harden: name at least one login role to keep set_config")
	}
	var b strings.Builder
	b.WriteString("REVOKE EXECUTE ON FUNCTION " + setConfigFunc + " FROM PUBLIC;\n")
	for _, r := range roles {
		if err := pgident.ValidateGiven("role", r); err != nil {
			return "", err
		}
		b.WriteString("GRANT EXECUTE ON FUNCTION " + setConfigFunc + " TO " + pgident.Quote(r) + " WITH GRANT OPTION;\n")
	}
	return b.String(), nil
}

// Harden runs [HardenSQL](roles...) on db, which must be connected to the
// application's database as a superuser. Returns what HardenSQL returns, or
// the database's error (insufficient_privilege when not a superuser).
func Harden(ctx context.Context, db DBTX, roles ...string) error {
	sql, err := HardenSQL(roles...)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, sql); err != nil {
		return fmt.Errorf("harden database: %w", err)
	}
	return nil
}

// HardeningStatus says how far one SQL injection in tenant code can reach
// in the database a connection is on (see [CheckHardening]).
type HardeningStatus struct {
	// SetConfigRevoked is true when PUBLIC may not execute set_config, so
	// a tenant role can't leave itself within one statement ([HardenSQL]).
	SetConfigRevoked bool
	// SetConfigGranted is true when the connected role may execute
	// set_config, which [Registry.QueryTenant] needs.
	SetConfigGranted bool
	// Superuser is true when the connected role is a superuser: then it
	// may run [HardenSQL] itself, and it is everything an injection that
	// leaves a tenant role (with stacked statements) gets.
	Superuser bool
	// CreateRole is true when the connected role has CREATEROLE, which an
	// injection that leaves a tenant role gets too (on PostgreSQL 15 and
	// older, CREATEROLE may grant itself any non-superuser role, such as
	// pg_read_server_files).
	CreateRole bool
	// RuntimeRoles are the runtime roles recorded by [GrantRuntime]
	// (split roles); empty in the single-role mode or before Condo's
	// shared migrations ran.
	RuntimeRoles []string
}

// CheckHardening reports the [HardeningStatus] of the database db is
// connected to, as seen by db's role. It only reads (a doctor command's
// check).
func CheckHardening(ctx context.Context, db DBTX) (*HardeningStatus, error) {
	s := &HardeningStatus{}
	err := db.QueryRow(ctx, `SELECT NOT has_function_privilege('public', $1, 'EXECUTE'),
		has_function_privilege(current_user, $1, 'EXECUTE'), r.rolsuper, r.rolcreaterole
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`, setConfigFunc).
		Scan(&s.SetConfigRevoked, &s.SetConfigGranted, &s.Superuser, &s.CreateRole)
	if err != nil {
		return nil, fmt.Errorf("check hardening: %w", err)
	}
	var exists bool
	if err := db.QueryRow(ctx, "SELECT to_regclass('public.condo_runtime_roles') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("check hardening: %w", err)
	}
	if exists {
		rows, _ := db.Query(ctx, "SELECT role_name FROM public.condo_runtime_roles ORDER BY role_name")
		if s.RuntimeRoles, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, fmt.Errorf("check hardening: runtime roles: %w", err)
		}
	}
	return s, nil
}
