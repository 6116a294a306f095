package condo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// ErrRoleReserveUnsupported is returned by [Registry.ReserveRoles] (and so
// [RoleReserve.Fill]) on a Citus coordinator: tenant roles there log in,
// are made by the owner in the creating transaction and propagate to the
// workers with it (see [Registry.Create]), so they are never made ahead.
var ErrRoleReserveUnsupported = errors.New("role reserve not supported on Citus")

// reserveLockKey is the transaction-level advisory lock under which
// [Registry.ReserveRoles] counts the reserve and changes it: instances
// filling at once queue there instead of overfilling it.
// Transaction-level, so it works through a transaction pooler. ("condo"
// "res" in ASCII.)
const reserveLockKey int64 = 0x636f6e646f726573

// reserveBatch bounds the roles one transaction of [Registry.ReserveRoles]
// makes or drops: the cost that matters (every backend recomputing its
// memberships) comes once per commit, whatever its size, but a bigger one
// holds more locks and a longer script.
const reserveBatch = 500

// ReserveResult says what [Registry.ReserveRoles] did.
type ReserveResult struct {
	// Made counts the reserved roles made, Dropped those dropped (the
	// reserve was above the size asked for).
	Made, Dropped int
}

// ReserveRoles brings the reserve of tenant roles to n: roles made ahead
// for schema-tier tenants to come, each exactly as [Registry.Create]
// makes a tenant's (named after an id of the tenants' sequence, created by
// the provisioning role whose turn it is, granted to the runtime roles
// serving that id), which Create then takes with its id instead of
// making one. Why: PostgreSQL resets every backend's cached role
// memberships on each commit that changes pg_authid or pg_auth_members,
// and each backend of a runtime role then recomputes its share of them on
// its next SET ROLE; a creation from the reserve changes neither, and a
// batch of reserved roles costs one reset, as one role does (README,
// "Tenant roles at scale").
//
// It makes the missing ones, or drops the surplus (the highest ids;
// Create takes the lowest), at most 500 per transaction, each under a
// transaction-level advisory lock, so instances sharing a database never
// overfill it; rows whose role was dropped behind Condo's back are
// forgotten. It returns what it did, also on error.
//
// Returns [ErrRoleReserveUnsupported] on a Citus coordinator.
func (r *Registry) ReserveRoles(ctx context.Context, n int) (ReserveResult, error) {
	var res ReserveResult
	if n < 0 {
		return res, fmt.Errorf("reserve %d tenant roles: want 0 or more", n)
	}
	for {
		var step ReserveResult
		var done bool
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			var err error
			step, done, err = r.reserveStep(ctx, tx, n, reserveBatch)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("reserve %d tenant roles: %w", n, err)
		}
		res.Made += step.Made
		res.Dropped += step.Dropped
		if done {
			return res, nil
		}
	}
}

// reserveStep moves the reserve towards n by at most batch roles in tx
// and reports whether it got there.
func (r *Registry) reserveStep(ctx context.Context, tx pgx.Tx, n, batch int) (ReserveResult, bool, error) {
	var res ReserveResult
	prefix, err := r.prefix(ctx, tx)
	if err != nil {
		return res, false, err
	}
	citus, err := r.citusVersion(ctx, tx)
	if err != nil {
		return res, false, err
	}
	if citus != "" {
		return res, false, ErrRoleReserveUnsupported
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", reserveLockKey); err != nil {
		return res, false, err
	}
	// A statement of its own after the lock (as createPending's count):
	// its snapshot is taken after the wait, so it sees what the instance
	// that held the lock committed. The count is taken before the
	// delete's effect (one snapshot), hence the difference.
	var have int
	if err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM public.condo_role_reserve v
			WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = v.role_name) RETURNING 1)
		SELECT (SELECT count(*) FROM public.condo_role_reserve) - (SELECT count(*) FROM gone)`).Scan(&have); err != nil {
		return res, false, err
	}
	switch {
	case have < n:
		k := min(n-have, batch)
		if err := r.reserveMake(ctx, tx, prefix, k); err != nil {
			return res, false, err
		}
		res.Made = k
		return res, n-have <= batch, nil
	case have > n:
		k := min(have-n, batch)
		dropped, err := r.reserveDrop(ctx, tx, k)
		res.Dropped = dropped
		// Fewer than k: the rest are being taken by creations (locked,
		// skipped), which shrink the reserve themselves; another round
		// now would only find them locked again.
		return res, err == nil && (have-n <= batch || dropped < k), err
	default:
		return res, true, nil
	}
}

// reserveMake makes k reserved roles in tx. Each takes its id, runtime
// roles and provisioning role in a statement of its own, Create's (the
// provisioning role that made the fewest is counted up in each, so a
// batch is spread as k creations would be), all k sent in one round trip;
// then their roles are made, in one more.
func (r *Registry) reserveMake(ctx context.Context, tx pgx.Tx, prefix string, k int) error {
	q := `WITH n AS (SELECT nextval('public.condo_tenants_id_seq') AS id), ` + provisionerCTE("true") + `
		INSERT INTO public.condo_role_reserve (id, role_name) SELECT n.id, $1 || 'tenant_' || n.id FROM n
		RETURNING role_name, (` + runtimeRolesSQL("condo_role_reserve.id") + `),
			(` + provisionerSQL("condo_role_reserve.id", "true") + `)`
	b := &pgx.Batch{}
	for range k {
		b.Queue(q, prefix)
	}
	br := tx.SendBatch(ctx, b)
	var script strings.Builder
	for range k {
		var role string
		var runtimeRoles []string
		var prov *int
		if err := br.QueryRow().Scan(&role, &runtimeRoles, &prov); err != nil {
			_ = br.Close()
			return err
		}
		if err := pgident.Validate("role", role); err != nil {
			_ = br.Close()
			return err
		}
		sql, err := r.createRoleSQL(role, "", prov, runtimeRoles)
		if err != nil {
			_ = br.Close()
			return err
		}
		script.WriteString(sql)
	}
	if err := br.Close(); err != nil {
		return err
	}
	return execScript(ctx, tx, script.String())
}

// reserveDrop drops up to k reserved roles, the highest ids first, with
// their rows, and returns how many. Rows a creation is taking (locked)
// are skipped.
func (r *Registry) reserveDrop(ctx context.Context, tx pgx.Tx, k int) (int, error) {
	rows, err := tx.Query(ctx, `SELECT v.id, v.role_name, (`+adminProvisionerSQL("r.oid")+`)
		FROM public.condo_role_reserve v JOIN pg_catalog.pg_roles r ON r.rolname = v.role_name
		ORDER BY v.id DESC LIMIT $1 FOR UPDATE OF v SKIP LOCKED`, k)
	if err != nil {
		return 0, err
	}
	type surplus struct {
		id   int64
		role string
		prov *int
	}
	drop, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (surplus, error) {
		var s surplus
		err := row.Scan(&s.id, &s.role, &s.prov)
		return s, err
	})
	if err != nil || len(drop) == 0 {
		return 0, err
	}
	var script strings.Builder
	ids := make([]string, len(drop))
	for i, s := range drop {
		ids[i] = strconv.FormatInt(s.id, 10)
		if err := pgident.Validate("role", s.role); err != nil {
			return 0, err
		}
		// A reserved role owns nothing and holds no privilege (it was
		// never a tenant's): DROP ROLE alone, as the owner, which made it
		// (on 16+ that gives it the ADMIN OPTION; CREATEROLE on 15).
		// DROP OWNED BY, as a purge runs it, cost ~11 ms a role on 15.
		// One made by a provisioning role goes through its function.
		if s.prov == nil {
			script.WriteString("DROP ROLE " + pgident.Quote(s.role) + ";\n")
			continue
		}
		script.WriteString(r.dropTenantRoleSQL(s.role, s.prov))
	}
	script.WriteString("DELETE FROM public.condo_role_reserve WHERE id IN (" + strings.Join(ids, ", ") + ");\n")
	if err := execScript(ctx, tx, script.String()); err != nil {
		return 0, err
	}
	return len(drop), nil
}

// reserveCount counts the reserved roles whose role exists: those a
// creation may take.
func (r *Registry) reserveCount(ctx context.Context) (int, error) {
	var n int
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM public.condo_role_reserve v
		JOIN pg_catalog.pg_roles r ON r.rolname = v.role_name`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count reserved tenant roles: %w", err)
	}
	return n, nil
}

// wakeReserve tells a [RoleReserve] running in this process that a
// creation took a reserved role, without waiting for it.
func (r *Registry) wakeReserve() {
	select {
	case r.reserveTaken <- struct{}{}:
	default:
	}
}
