package condo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/condo-dev/condo/internal/pgident"
)

// ErrTooManyShards is returned by [Provision] and [GrantRuntime] for a
// shard count above [MaxShards].
var ErrTooManyShards = errors.New("too many shards")

// MaxShards bounds the provisioning roles and runtime shards: 1,024 shards
// of 1,000 tenants each is a million tenants, far past one cluster.
const MaxShards = 1024

// ProvisionerName is the name of the provisioning role of shard k made by
// owner: "<owner>_prov_<k>".
func ProvisionerName(owner string, k int) (string, error) {
	name := owner + "_prov_" + strconv.Itoa(k)
	if err := pgident.ValidateGiven("role", name); err != nil {
		return "", err
	}
	return name, nil
}

// ProvisionResult says what [Provision] made.
type ProvisionResult struct {
	// Created is how many provisioning roles were made now.
	Created int
	// Total is how many there are, made now or before.
	Total int
	// Upgraded is how many functions of provisioning roles made before
	// were replaced by this version's (the "revoke" operation
	// [GrantRuntime] needs came later).
	Upgraded int
}

// Provision makes n provisioning roles (NOLOGIN CREATEROLE, named by
// [ProvisionerName]), each with a SECURITY DEFINER function it owns
// (condo_provision.p_<k>) that creates, grants and drops tenant roles and
// that only the owner may execute, and records them in the registry: from
// then on [Registry.Create] creates each tenant role through the
// provisioning role that made the fewest, whichever process creates it, so
// roles added later take the new tenants until they hold as many as the
// others. Run it as the owner, the role db connects as; it can run again.
//
// Why: PostgreSQL 16 and later make the creator of a role (a CREATEROLE
// role that is not a superuser: the managed-database set-up) a member of
// it WITH ADMIN OPTION, and checking that option walks all of the
// creator's memberships, so with one creating role the cost of each new
// tenant grows with the number of tenants (issue 15: 11 ms each for the
// first 5,000, 49 ms for the next 5,000). Spread over n creators, each
// holds only its share.
//
// Why functions, and no membership of the owner in them: PostgreSQL
// computes a role's memberships by walking every membership of every role
// it reaches, including rows it then ignores (a provisioning role's ADMIN
// rows when the question is SET ROLE). An owner that was a member of every
// provisioning role walked every tenant role's row after each GRANT in the
// cluster: 22 ms per creation at 1,000 tenants, 91 ms at 100,000 on 18; an
// owner granting itself one for each transaction paid the same walk in the
// GRANT's ADMIN check (1.5 s at 50,000). Calling a function needs no
// membership.
//
// It only adds: with m roles recorded already it makes m…n-1 (and
// replaces the functions of the m whose body is not this version's), and
// never removes one (tenant roles stay administered by the role that made them).
// Each should make at most about 1,000 tenant roles on PostgreSQL 16+
// (doctor's "tenant roles" check): n = tenants expected / 1,000.
//
// Returns [ErrTooManyShards] when n > [MaxShards], a [*NameError] when the
// owner's name leaves no room for the suffix, and the database's error
// otherwise (e.g. the owner lacks CREATEROLE).
func Provision(ctx context.Context, db DBTX, n int) (*ProvisionResult, error) {
	if n < 1 || n > MaxShards {
		return nil, fmt.Errorf("provision %d roles: %w (1 to %d)", n, ErrTooManyShards, MaxShards)
	}
	var owner string
	var num, have int
	err := db.QueryRow(ctx, `SELECT current_user, current_setting('server_version_num')::int,
		(SELECT count(*) FROM public.condo_provisioners)`).Scan(&owner, &num, &have)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	res := &ProvisionResult{Total: max(have, n)}
	inherit := provisionerMemberOptions(num)
	var b strings.Builder
	if have > 0 {
		up, err := upgradeProvisionSQL(ctx, db, inherit)
		if err != nil {
			return nil, err
		}
		b.WriteString(up.sql)
		res.Upgraded = up.n
	}
	if have >= n && b.Len() == 0 {
		return res, nil
	}
	if have < n {
		b.WriteString("CREATE SCHEMA IF NOT EXISTS condo_provision;\n")
	}
	for k := have; k < n; k++ {
		name, err := ProvisionerName(owner, k)
		if err != nil {
			return nil, err
		}
		q, fn := pgident.Quote(name), provisionFunc(k)
		sig := fn + "(text, text, text[], boolean)"
		// The owner holds the role (inheriting its privileges) only while
		// it hands it the function: ALTER … OWNER needs SET ROLE to the
		// new owner, which needs CREATE on the schema; the function's ACL
		// is set after the hand-over (which would rewrite the old owner's
		// entries), and a member that has the owner's privileges grants as
		// the owner. No SET ROLE to it: on Citus the statements that
		// follow would then reach the workers over a new connection as the
		// provisioning role, which exists there only at the commit.
		b.WriteString("CREATE ROLE " + q + " NOLOGIN NOINHERIT CREATEROLE;\n" +
			"GRANT " + q + " TO CURRENT_USER" + inherit + ";\n" +
			"GRANT USAGE, CREATE ON SCHEMA condo_provision TO " + q + ";\n" +
			"CREATE FUNCTION " + fn + provisionFuncBody + ";\n" +
			"ALTER FUNCTION " + sig + " OWNER TO " + q + ";\n" +
			"REVOKE ALL ON FUNCTION " + sig + " FROM PUBLIC;\n" +
			"GRANT EXECUTE ON FUNCTION " + sig + " TO SESSION_USER;\n" +
			"REVOKE CREATE ON SCHEMA condo_provision FROM " + q + ";\n" +
			"REVOKE " + q + " FROM CURRENT_USER;\n" +
			"INSERT INTO public.condo_provisioners (shard, role_name) VALUES (" + strconv.Itoa(k) + ", " + quoteLiteral(name) + ");\n")
		res.Created++
	}
	// Several statements in one simple-protocol message run as one
	// implicit transaction (which SET LOCAL needs): all of them or none.
	if _, err := db.Exec(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return res, nil
}

// provisionerMemberOptions are the options of the owner's membership in a
// provisioning role during [Provision]: it must have the role's
// privileges (to own, replace and grant on its function as it), which
// 16+ gives only WITH INHERIT TRUE (the owner role is INHERIT on 15).
func provisionerMemberOptions(serverNum int) string {
	if serverNum >= 160000 {
		return " WITH INHERIT TRUE, SET TRUE"
	}
	return ""
}

// provisionFunc is the quoted name of provisioning role k's function.
func provisionFunc(k int) string {
	return pgident.QuoteQualified("condo_provision", "p_"+strconv.Itoa(k))
}

// provisionFuncBody is the rest of a provisioning role's function after
// its name: create (op "create", LOGIN when login: tenant roles on Citus
// log in), grant to each of grantees (WITH INHERIT FALSE, SET TRUE on
// 16+), revoke from each of them (op "revoke": a runtime role moved to
// another shard, see [GrantRuntime]) or drop (op "drop") tenant role ro,
// as the provisioning role.
// It accepts only tenant role names.
const provisionFuncBody = `(op text, ro text, grantees text[], login boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$
DECLARE
	g text;
	v16 boolean := current_setting('server_version_num')::int >= 160000;
BEGIN
	IF ro !~ '^[a-z0-9_]*tenant_[0-9]+$' THEN
		RAISE EXCEPTION 'condo provision: % is not a tenant role', ro USING ERRCODE = '42939';
	END IF;
	IF op = 'create' THEN
		EXECUTE format('CREATE ROLE %I %s', ro, CASE WHEN login THEN 'LOGIN' ELSE 'NOLOGIN' END);
	ELSIF op = 'drop' THEN
		EXECUTE format('GRANT %I TO CURRENT_USER%s', ro, CASE WHEN v16 THEN ' WITH INHERIT TRUE' ELSE '' END);
		EXECUTE format('DROP OWNED BY %I', ro);
		EXECUTE format('DROP ROLE %I', ro);
		RETURN;
	ELSIF op = 'revoke' THEN
		FOREACH g IN ARRAY coalesce(grantees, '{}') LOOP
			EXECUTE format('REVOKE %I FROM %I', ro, g);
		END LOOP;
		RETURN;
	ELSIF op <> 'grant' THEN
		RAISE EXCEPTION 'condo provision: unknown operation %', op;
	END IF;
	FOREACH g IN ARRAY coalesce(grantees, '{}') LOOP
		EXECUTE format('GRANT %I TO %I%s', ro, g, CASE WHEN v16 THEN ' WITH INHERIT FALSE, SET TRUE' ELSE '' END);
	END LOOP;
END
$f$`

// provisionCallSQL is the statement that runs op on tenant role ro (not
// quoted) through provisioning role k's function, granting to the roles
// of grantees, an SQL text[] expression.
func provisionCallSQL(k int, op, ro, grantees string, login bool) string {
	return "SELECT " + provisionFunc(k) + "(" + quoteLiteral(op) + ", " + quoteLiteral(ro) +
		", " + grantees + ", " + strconv.FormatBool(login) + ");\n"
}

// textArraySQL is an SQL text[] literal of ss.
func textArraySQL(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quoteLiteral(s)
	}
	return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
}

// provisionerCTE picks the provisioning role of a new tenant: the one
// that made the fewest tenant roles, counted up in the same statement.
// SKIP LOCKED: concurrent creations take different ones instead of
// queueing on one row; when all are taken, provisionerSQL picks one by id
// without counting (the count only balances, the cost follows
// pg_auth_members). enabled is an SQL boolean expression, false where
// provisioning roles are not used (on Citus, see [Registry.Create]; a
// creation from the role reserve, whose role exists already).
func provisionerCTE(enabled string) string {
	return `p AS (SELECT p.shard FROM public.condo_provisioners p
		JOIN pg_catalog.pg_roles r ON r.rolname = p.role_name
		WHERE ` + enabled + `
		ORDER BY p.roles, p.shard LIMIT 1 FOR UPDATE OF p SKIP LOCKED),
	pu AS (UPDATE public.condo_provisioners c SET roles = c.roles + 1 FROM p WHERE c.shard = p.shard RETURNING c.shard)`
}

// provisionerSQL is a scalar subquery (with provisionerCTE) for the
// RETURNING of the statement that takes tenant id id (an SQL expression:
// Create's condo_tenants.id, [Registry.ReserveRoles]'s reserve id): the
// shard of the provisioning role that makes its role, or NULL when there
// is none.
func provisionerSQL(id, enabled string) string {
	return `SELECT coalesce((SELECT shard FROM pu), (SELECT p.shard FROM public.condo_provisioners p
	JOIN pg_catalog.pg_roles r ON r.rolname = p.role_name
	WHERE ` + enabled + ` AND p.shard = ` + id + ` % nullif((SELECT count(*) FROM public.condo_provisioners), 0)))`
}

// adminProvisionerSQL is a scalar subquery: the shard of the provisioning
// role that holds the ADMIN OPTION on the tenant role whose pg_roles oid
// is roleOid (an SQL expression), i.e. that created it, if any:
// PostgreSQL 16+ lets only a role's admins grant, revoke and drop it.
func adminProvisionerSQL(roleOid string) string {
	return `SELECT p.shard FROM public.condo_provisioners p
	JOIN pg_catalog.pg_roles pr ON pr.rolname = p.role_name
	JOIN pg_catalog.pg_auth_members m ON m.member = pr.oid AND m.roleid = ` + roleOid + ` AND m.admin_option
	ORDER BY p.shard LIMIT 1`
}
