package condo

import (
	"context"
	"fmt"
)

// RoleShares says how the tenant roles are spread over the roles that may
// take them and the roles that administer them: what PostgreSQL's cost of
// role membership grows with (issue 15; the README's "How tenancy is
// enforced").
type RoleShares struct {
	// ServerVersionNum is the server's server_version_num.
	ServerVersionNum int
	// Tenants counts the registry's tenants (deleted ones included: their
	// roles exist until purged).
	Tenants int
	// Reserved counts the reserved tenant roles ([Registry.ReserveRoles]),
	// which are granted like tenants' and counted in MaxSet and MaxAdmin.
	Reserved int
	// MaxSet is the largest number of tenant roles one role may SET ROLE
	// to directly (on PostgreSQL 15 every membership allows it), and
	// SetRole is that role. A login role with that many pays for computing
	// them on the first tenant switch of every new connection and again
	// after every GRANT anywhere in the cluster.
	MaxSet  int
	SetRole string
	// MaxAdmin is the largest number of tenant roles one role holds the
	// ADMIN OPTION on (PostgreSQL 16+ gives it to a role's creator), and
	// AdminRole is that role. Each tenant creation walks all of the
	// creating role's memberships.
	MaxAdmin  int
	AdminRole string
	// Provisioners counts the provisioning roles ([Provision]).
	Provisioners int
	// RuntimeShards is the largest shard count among the runtime roles
	// ([GrantRuntimeOpts].Shards); 0 when none serves a shard.
	RuntimeShards int
}

// RoleShares reads how tenant roles are spread over their members (see
// [RoleShares]), reserved roles included, in one query over the registry
// and pg_auth_members.
func (r *Registry) RoleShares(ctx context.Context) (*RoleShares, error) {
	s := &RoleShares{}
	err := r.pool.QueryRow(ctx, `WITH m AS (
			SELECT m.member, m.admin_option,
				CASE WHEN current_setting('server_version_num')::int >= 160000
					THEN (to_jsonb(m) ->> 'set_option')::boolean ELSE true END AS set_option
			FROM pg_catalog.pg_auth_members m
			JOIN pg_catalog.pg_roles tr ON tr.oid = m.roleid
			JOIN `+tenantRolesSQL+` t ON t.role_name = tr.rolname),
		s AS (SELECT member, count(*) AS n FROM m WHERE set_option GROUP BY member ORDER BY n DESC LIMIT 1),
		a AS (SELECT member, count(*) AS n FROM m WHERE admin_option GROUP BY member ORDER BY n DESC LIMIT 1)
		SELECT current_setting('server_version_num')::int,
			(SELECT count(*) FROM public.condo_tenants),
			(SELECT count(*) FROM public.condo_role_reserve),
			coalesce((SELECT n FROM s), 0), coalesce((SELECT pg_get_userbyid(member) FROM s), ''),
			coalesce((SELECT n FROM a), 0), coalesce((SELECT pg_get_userbyid(member) FROM a), ''),
			(SELECT count(*) FROM public.condo_provisioners),
			(SELECT coalesce(max(shards), 0) FROM public.condo_runtime_roles)`).
		Scan(&s.ServerVersionNum, &s.Tenants, &s.Reserved, &s.MaxSet, &s.SetRole, &s.MaxAdmin, &s.AdminRole, &s.Provisioners, &s.RuntimeShards)
	if err != nil {
		return nil, fmt.Errorf("role shares: %w", err)
	}
	return s, nil
}
