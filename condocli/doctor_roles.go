package condocli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// roleLimits are the most tenant roles one role should be able to SET ROLE
// to (set) and administer (admin) on a server version, measured for issue
// 15 (BENCHMARKS.md, "Tenant roles at scale"); 0 means no limit found.
//
//   - set: PostgreSQL computes a login role's memberships on its first
//     SET ROLE on each backend and again after every GRANT in the cluster.
//     On 15 that time grows with the square of their number: 35 ms at
//     3,125, 421 ms at 10,000, 8 s at 50,000. 18 computes them in linear
//     time (a Bloom filter): 25 ms at 10,000. 16 and 17 were not measured
//     and get 15's limit.
//   - admin: from 16 on the creating role holds the ADMIN OPTION on every
//     role it made, and each GRANT walks all of its memberships: on 18,
//     3.4 ms per creation at 1,000, 75 ms at 10,000. 15 gives no such
//     option.
func roleLimits(versionNum int) (set, admin int) {
	switch {
	case versionNum < 160000:
		return 3000, 0
	case versionNum < 180000:
		return 3000, 2000
	default:
		return 10000, 2000
	}
}

// checkTenantRoles is doctor's check of how many tenant roles the roles
// that take or administer them hold, against [roleLimits].
func checkTenantRoles(ctx context.Context, st *condostack.Stack) checkResult {
	s, err := st.Registry.RoleShares(ctx)
	if err != nil {
		return failf("tenant roles", "cannot read the role memberships: %v", err)
	}
	return tenantRolesResult(s)
}

func tenantRolesResult(s *condo.RoleShares) checkResult {
	const name = "tenant roles"
	set, admin := roleLimits(s.ServerVersionNum)
	major := s.ServerVersionNum / 10000
	what := fmt.Sprintf("%s; at most %s per role that may take them (%s, limit %s on PostgreSQL %d)",
		thousands(s.Tenants)+" tenant"+map[bool]string{true: "", false: "s"}[s.Tenants == 1], thousands(s.MaxSet), orNone(s.SetRole), thousands(set), major)
	if admin > 0 {
		what += fmt.Sprintf(", at most %s administered by one role (%s, limit %s)", thousands(s.MaxAdmin), orNone(s.AdminRole), thousands(admin))
	}
	// Reserved roles (serve --role-reserve) are tenant roles to come,
	// counted in the shares above.
	what += fmt.Sprintf("; %s reserved", thousands(s.Reserved))
	// Twice the roles of today: room to grow before the next warning.
	roles := s.Tenants + s.Reserved
	n := max(ceilDiv(roles*2, set), 2)
	if admin > 0 {
		n = max(n, ceilDiv(roles*2, admin))
	}
	fix := fmt.Sprintf("; shard them: `runtime-grant --provisioners N` (tenants created by N roles) and one runtime login role per shard (`runtime-grant ROLE_K --shards N --shard K`) served by its own pool, with N at least %d", n)
	switch {
	case s.MaxSet > set:
		return warnf(name, "%s: a new connection's first tenant switch, and every switch after a tenant is created, computes all of %s's memberships and stalls as they grow%s", what, s.SetRole, fix)
	case admin > 0 && s.MaxAdmin > admin:
		return warnf(name, "%s: each tenant creation walks all of %s's memberships and slows as they grow%s", what, s.AdminRole, fix)
	default:
		return okf(name, "%s", what)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func orNone(role string) string {
	if role == "" {
		return "none"
	}
	return role
}

// thousands writes n with comma separators: 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
