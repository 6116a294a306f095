package condo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
)

// ErrRuntimeIsOwner is returned by [GrantRuntime] when the runtime role is
// the role that owns the registry: that is the single-role mode, with
// nothing to grant.
var ErrRuntimeIsOwner = errors.New("runtime role is the owner role")

// tenantPool is the pool tenant transactions run on.
func (r *Registry) tenantPool() *pgxpool.Pool {
	if r.tpool != nil {
		return r.tpool
	}
	return r.pool
}

// grantRuntimeSQL returns the statements that let every runtime role
// (recorded by [GrantRuntime]) SET ROLE to the tenant role ro (quoted),
// without inheriting its privileges where the server can say so.
func (r *Registry) grantRuntimeSQL(ctx context.Context, tx pgx.Tx, ro string) (string, error) {
	// A runtime role dropped since is skipped, not an error.
	rows, _ := tx.Query(ctx, `SELECT rr.role_name FROM public.condo_runtime_roles rr
		JOIN pg_catalog.pg_roles r ON r.rolname = rr.role_name ORDER BY rr.role_name`)
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("runtime roles: %w", err)
	}
	var b strings.Builder
	for _, rt := range roles {
		if err := pgident.ValidateGiven("role", rt); err != nil {
			return "", err
		}
		b.WriteString("GRANT " + ro + " TO " + pgident.Quote(rt) + r.memberOptions() + ";\n")
	}
	return b.String(), nil
}

// GrantRuntimeResult says what [GrantRuntime] granted.
type GrantRuntimeResult struct {
	// TenantRoles is how many tenant roles the runtime role was granted
	// (those it was not a member of yet).
	TenantRoles int
	// SetConfig is true when set_config was granted (the database is
	// hardened, see [HardenSQL]; otherwise PUBLIC has it already).
	SetConfig bool
}

// GrantRuntime lets role, a login role that owns nothing (made by the
// operator: CREATE ROLE app_runtime LOGIN NOINHERIT PASSWORD '…'), run
// tenant transactions: it grants it every existing tenant role (WITH
// INHERIT FALSE, SET TRUE on PostgreSQL 16 and later) and, in a hardened
// database, EXECUTE on set_config, which the owner holds WITH GRANT OPTION
// from [HardenSQL]. It grants nothing on shared tables. Run it on the owner
// role's connection; it can run again, and only grants what is missing.
// It records role in the registry, so that [Registry.Create] grants it
// every new tenant role, whichever process creates it.
//
// Returns a [*NameError] for an unusable role name, [ErrRuntimeIsOwner]
// when role is db's own role, an error when the role does not exist or is
// a superuser, and the database's error otherwise.
func GrantRuntime(ctx context.Context, db DBTX, role string) (*GrantRuntimeResult, error) {
	if err := pgident.ValidateGiven("role", role); err != nil {
		return nil, err
	}
	var me string
	var num int
	var hardened, canGrant bool
	var super *bool
	err := db.QueryRow(ctx, `SELECT current_user, current_setting('server_version_num')::int,
		NOT has_function_privilege('public', $1, 'EXECUTE'),
		has_function_privilege(current_user, $1, 'EXECUTE WITH GRANT OPTION'),
		(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $2)`, setConfigFunc, role).
		Scan(&me, &num, &hardened, &canGrant, &super)
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	switch {
	case me == role:
		return nil, fmt.Errorf("grant runtime role %q: %w", role, ErrRuntimeIsOwner)
	case super == nil:
		return nil, fmt.Errorf("grant runtime role %q: role does not exist", role)
	case *super:
		return nil, fmt.Errorf("grant runtime role %q: a superuser can't be a runtime role (it reaches everything)", role)
	}
	res := &GrantRuntimeResult{}
	var b strings.Builder
	rt := pgident.Quote(role)
	if hardened {
		if !canGrant {
			return nil, fmt.Errorf("grant runtime role %q: the owner %q may not pass set_config on: have a superuser run HardenSQL for %q and %q", role, me, me, role)
		}
		b.WriteString("GRANT EXECUTE ON FUNCTION " + setConfigFunc + " TO " + rt + ";\n")
		res.SetConfig = true
	}
	// pg_has_role errors for a role that does not exist, which is the
	// error to give.
	rows, err := db.Query(ctx, `SELECT t.role_name FROM public.condo_tenants t
		JOIN pg_catalog.pg_roles r ON r.rolname = t.role_name
		WHERE NOT pg_has_role($1, t.role_name, 'MEMBER') ORDER BY t.id`, role)
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	opts := (&Registry{serverNum: num}).memberOptions()
	for _, ro := range missing {
		if err := pgident.Validate("role", ro); err != nil {
			return nil, err
		}
		b.WriteString("GRANT " + pgident.Quote(ro) + " TO " + rt + opts + ";\n")
	}
	res.TenantRoles = len(missing)
	b.WriteString("INSERT INTO public.condo_runtime_roles (role_name) VALUES (" + quoteLiteral(role) + ") ON CONFLICT DO NOTHING;\n")
	// Several statements in one simple-protocol message run as one
	// implicit transaction: all of them or none.
	if _, err := db.Exec(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	return res, nil
}
