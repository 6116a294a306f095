package condo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// runtimeRolesSQL is a scalar subquery: the runtime roles recorded by
// [GrantRuntime] that serve tenant id id (an SQL expression: Create's
// condo_tenants.id, [Registry.ReserveRoles]'s reserve id; all of them, or
// its shard), as a text array. A role dropped since is skipped, not an
// error.
func runtimeRolesSQL(id string) string {
	return `SELECT coalesce(array_agg(rr.role_name ORDER BY rr.role_name), '{}')
	FROM public.condo_runtime_roles rr JOIN pg_catalog.pg_roles r ON r.rolname = rr.role_name
	WHERE rr.shards = 0 OR ` + id + ` % rr.shards = rr.shard`
}

// tenantRolesSQL is every tenant role with its tenant id, as a FROM item:
// the registry's tenants' and the reserved ones' ([Registry.ReserveRoles]),
// which become tenants of that id and must be granted to, and revoked
// from, a runtime role as theirs are.
const tenantRolesSQL = `(SELECT id, role_name FROM public.condo_tenants
	UNION ALL SELECT id, role_name FROM public.condo_role_reserve)`

// grantRuntimeSQL returns the statements that let every runtime role in
// roles (read with [runtimeRolesSQL]) SET ROLE to the tenant role ro
// (quoted), without inheriting its privileges where the server can say so.
func (r *Registry) grantRuntimeSQL(roles []string, ro string) (string, error) {
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
	// Tables is how many of [GrantRuntimeOpts].Tables were granted (every
	// one each time: granting a privilege held already changes nothing).
	Tables int
	// Revoked is how many tenant roles outside the runtime role's shard
	// it was a member of and no longer is (it moved to another shard).
	Revoked int
}

// TableGrant is what the application's request-path code may do on one of
// its shared tables (the reference app's users, sessions, throttle counters
// and so on) when it runs as the runtime role's shared role
// ([SharedRoleName], [SharedPool]); nothing is granted on the tables only
// the owner should touch (secrets, Condo's registry and certificate
// storage).
type TableGrant struct {
	// Table is the table's name in the public schema, where shared
	// migrations create tables; a name Condo would create (lower case
	// a-z, 0-9, _). Condo's own tables (condo_*) are refused.
	Table string
	// Privileges are among SELECT, INSERT, UPDATE and DELETE (any case).
	// An identity column needs no grant on its sequence; a serial
	// column's sequence is not covered (use identity columns).
	Privileges []string
}

// GrantRuntimeOpts are the optional parts of [GrantRuntime]. A nil
// *GrantRuntimeOpts grants tenant roles and set_config only.
type GrantRuntimeOpts struct {
	// Tables are granted to the runtime role's shared role, so that the
	// application can run its own shared-table code on the runtime role's
	// pool ([SharedPool]) instead of the owner's. Defaults to none.
	Tables []TableGrant
	// Shards and Shard, when Shards > 0, make the runtime role serve one
	// shard of the tenants: those whose id % Shards == Shard, the tenants
	// [TenantPools] of Shards pools sends to pool Shard. It is granted
	// those tenant roles only, and [Registry.Create] grants it a new one
	// only when it falls in its shard. Why: a login role's first SET ROLE
	// on a backend computes all of its memberships (on PostgreSQL 15 in
	// time that grows with the square of their number, seconds at 50,000)
	// and every GRANT anywhere makes every backend compute them again; see
	// the README's "How tenancy is enforced". Shards 0 keeps the shard the
	// role was given before (what serve's start-up grant needs), and a
	// role never given one serves every tenant. Changing a role's shard
	// grants it the new shard's tenants (one transaction) and then
	// revokes the tenant roles outside it, a few hundred per transaction
	// (through the provisioning function that made each one: on 16+ only
	// the grantor may revoke; run [Provision] first on a database
	// provisioned by an older Condo). Move the pools over in between: the
	// role serves the old shard until the revoke starts.
	Shards, Shard int
}

// runtimePrivileges are the table privileges [TableGrant] may give: no
// TRUNCATE, REFERENCES, TRIGGER or MAINTAIN.
var runtimePrivileges = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true}

// tableGrantsSQL validates gs and returns their GRANT statements to the
// runtime role rt (quoted). Every problem is reported at once.
func tableGrantsSQL(gs []TableGrant, rt string) (string, error) {
	var b strings.Builder
	var errs []error
	for _, g := range gs {
		err := pgident.Validate("table", g.Table)
		if err == nil && strings.HasPrefix(g.Table, "condo_") {
			err = fmt.Errorf("table %q: Condo's own tables are not granted to the runtime role", g.Table)
		}
		if err == nil && len(g.Privileges) == 0 {
			err = fmt.Errorf("table %q: no privileges", g.Table)
		}
		var privs []string
		for _, p := range g.Privileges {
			up := strings.ToUpper(p)
			if !runtimePrivileges[up] {
				err = errors.Join(err, fmt.Errorf("table %q: privilege %q: want SELECT, INSERT, UPDATE or DELETE", g.Table, p))
				continue
			}
			privs = append(privs, up)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.WriteString("GRANT " + strings.Join(privs, ", ") + " ON TABLE " + pgident.QuoteQualified("public", g.Table) + " TO " + rt + ";\n")
	}
	return b.String(), errors.Join(errs...)
}

// GrantRuntime lets role, a login role that owns nothing (made by the
// operator: CREATE ROLE app_runtime LOGIN NOINHERIT PASSWORD '…'), run
// tenant transactions: it grants it every existing tenant role (WITH
// INHERIT FALSE, SET TRUE on PostgreSQL 16 and later) and, in a hardened
// database, EXECUTE on set_config, which the owner holds WITH GRANT OPTION
// from [HardenSQL]. On shared tables it grants the runtime role nothing:
// it makes the NOLOGIN role [SharedRoleName](role) (NOINHERIT, no
// set_config, no tenant role), lets role SET ROLE to it as to a tenant
// role, and grants it opts.Tables (the application's, never Condo's); a
// [SharedPool] runs the application's shared-table code as it. Run it on the owner role's connection; it
// can run again, and only grants what is missing. It revokes only tenant
// roles outside the role's shard (see [GrantRuntimeOpts].Shards): a table
// dropped from opts.Tables keeps its grant until revoked by hand.
// It records role in the registry, so that [Registry.Create] grants it
// every new tenant role, whichever process creates it.
//
// Returns a [*NameError] for an unusable role or table name, an error for
// a table of Condo's or a privilege not allowed, [ErrRuntimeIsOwner]
// when role is db's own role, an error when the role does not exist or is
// a superuser or the shared role exists with LOGIN or another attribute,
// and the database's error otherwise.
func GrantRuntime(ctx context.Context, db DBTX, role string, opts *GrantRuntimeOpts) (*GrantRuntimeResult, error) {
	if err := pgident.ValidateGiven("role", role); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &GrantRuntimeOpts{}
	}
	switch {
	case opts.Shards > MaxShards:
		return nil, fmt.Errorf("grant runtime role %q: %d shards: %w (at most %d)", role, opts.Shards, ErrTooManyShards, MaxShards)
	case opts.Shards < 0 || opts.Shard < 0 || (opts.Shards > 0 && opts.Shard >= opts.Shards) || (opts.Shards == 0 && opts.Shard != 0):
		return nil, fmt.Errorf("grant runtime role %q: shard %d of %d: want 0 <= shard < shards", role, opts.Shard, opts.Shards)
	}
	shared, err := SharedRoleName(role)
	if err != nil {
		return nil, err
	}
	tables, err := tableGrantsSQL(opts.Tables, pgident.Quote(shared))
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	var me string
	var num int
	var hardened, canGrant bool
	var super, sharedMember *bool
	var sharedLogin *bool
	var recShards, recShard int
	shards, shard := opts.Shards, opts.Shard
	err = db.QueryRow(ctx, `SELECT current_user, current_setting('server_version_num')::int,
		NOT has_function_privilege('public', $1, 'EXECUTE'),
		has_function_privilege(current_user, $1, 'EXECUTE WITH GRANT OPTION'),
		(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $2),
		(SELECT rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication
			FROM pg_catalog.pg_roles WHERE rolname = $3),
		(SELECT pg_has_role($2, $3, 'MEMBER') WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $3)),
		coalesce((SELECT shards FROM public.condo_runtime_roles WHERE role_name = $2), 0),
		coalesce((SELECT shard FROM public.condo_runtime_roles WHERE role_name = $2), 0)`,
		setConfigFunc, role, shared).
		Scan(&me, &num, &hardened, &canGrant, &super, &sharedLogin, &sharedMember, &recShards, &recShard)
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	if opts.Shards == 0 {
		// What serve does at every start: keep the shard given once.
		shards, shard = recShards, recShard
	}
	switch {
	case me == role:
		return nil, fmt.Errorf("grant runtime role %q: %w", role, ErrRuntimeIsOwner)
	case super == nil:
		return nil, fmt.Errorf("grant runtime role %q: role does not exist", role)
	case *super:
		return nil, fmt.Errorf("grant runtime role %q: a superuser can't be a runtime role (it reaches everything)", role)
	case sharedLogin != nil && *sharedLogin:
		return nil, fmt.Errorf("grant runtime role %q: role %q exists and may log in or has attributes: the shared role must be a plain NOLOGIN role", role, shared)
	}
	res := &GrantRuntimeResult{}
	var b strings.Builder
	rt := pgident.Quote(role)
	member := (&Registry{serverNum: num}).memberOptions()
	// The shared role: the runtime role's grants on shared tables, taken
	// per transaction by SharedPool. It gets no set_config and no tenant
	// role, so one injected statement in shared-table code can't leave it.
	if sharedLogin == nil {
		b.WriteString("CREATE ROLE " + pgident.Quote(shared) + " NOLOGIN NOINHERIT;\n")
	}
	if sharedMember == nil || !*sharedMember {
		b.WriteString("GRANT " + pgident.Quote(shared) + " TO " + rt + member + ";\n")
	}
	if hardened {
		if !canGrant {
			return nil, fmt.Errorf("grant runtime role %q: the owner %q may not pass set_config on: have a superuser run HardenSQL for %q and %q", role, me, me, role)
		}
		b.WriteString("GRANT EXECUTE ON FUNCTION " + setConfigFunc + " TO " + rt + ";\n")
		res.SetConfig = true
	}
	// pg_has_role errors for a role that does not exist, which is the
	// error to give.
	// A tenant role made by a provisioning role ([Provision]) is granted
	// through its function: on 16+ only it holds the ADMIN OPTION.
	// Reserved roles ([Registry.ReserveRoles]) are tenant roles to come,
	// granted as theirs are.
	rows, err := db.Query(ctx, `SELECT t.role_name, (`+adminProvisionerSQL("r.oid")+`)
		FROM `+tenantRolesSQL+` t
		JOIN pg_catalog.pg_roles r ON r.rolname = t.role_name
		WHERE ($2 = 0 OR t.id % $2 = $3) AND NOT pg_has_role($1, t.role_name, 'MEMBER') ORDER BY t.id`,
		role, shards, shard)
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	type grant struct {
		role string
		prov *int
	}
	missing, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (grant, error) {
		var g grant
		err := row.Scan(&g.role, &g.prov)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	for _, g := range missing {
		if err := pgident.Validate("role", g.role); err != nil {
			return nil, err
		}
		if g.prov != nil {
			b.WriteString(provisionCallSQL(*g.prov, "grant", g.role, textArraySQL([]string{role}), false))
			continue
		}
		b.WriteString("GRANT " + pgident.Quote(g.role) + " TO " + rt + member + ";\n")
	}
	res.TenantRoles = len(missing)
	b.WriteString(tables)
	res.Tables = len(opts.Tables)
	b.WriteString("INSERT INTO public.condo_runtime_roles (role_name, shards, shard) VALUES (" + quoteLiteral(role) + ", " +
		strconv.Itoa(shards) + ", " + strconv.Itoa(shard) + ") ON CONFLICT (role_name) DO UPDATE SET shards = EXCLUDED.shards, shard = EXCLUDED.shard;\n")
	// Several statements in one simple-protocol message run as one
	// implicit transaction: all of them or none.
	if _, err := db.Exec(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("grant runtime role %q: %w", role, err)
	}
	res.Revoked, err = revokeOutsideShard(ctx, db, role, shards, shard, revokeBatch)
	if err != nil {
		return res, fmt.Errorf("grant runtime role %q: revoke tenant roles outside shard %d of %d (%d revoked): %w", role, shard, shards, res.Revoked, err)
	}
	return res, nil
}
