package condo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// pendingSlugPrefix starts a pending tenant's slug ("~pending-42"): "~" is
// neither a slug nor a host character, so no Host header and no slug that
// passed [ValidateSlug] can name a pending tenant.
const pendingSlugPrefix = "~pending-"

// pendingLockKey is the transaction-level advisory lock under which a
// refill counts the pending tenants and adds one: instances refilling at
// once queue there instead of overfilling the pool. Transaction-level, so
// it works through a transaction pooler. ("condo" "pend" in ASCII.)
const pendingLockKey int64 = 0x636f6e646f70656e

// errNoPending: no pending tenant at the latest version could be claimed;
// [Registry.Create] takes the full path.
var errNoPending = errors.New("no pending tenant to claim")

// errPoolFull: a refill found the pool full under the lock (another
// instance filled it meanwhile); the tenant it was making is rolled back.
var errPoolFull = errors.New("pending pool full")

// claimPending makes a pending schema-tier tenant at the latest tenant migration
// version p's tenant in one short transaction: slug, name, paid and trial
// fields, status active, domains, the creation hooks (search_path the
// tenant's schema) and the registry notification. FOR UPDATE SKIP LOCKED
// hands concurrent claims different tenants. It returns errNoPending when
// there is none; any other error rolls the claim back, leaving the tenant
// pending. A pending tenant behind the latest version (a deploy the fleet
// migration has not reached yet) or ahead of it (made by a newer
// instance) is never claimed: its schema is not what this code expects.
func (r *Registry) claimPending(ctx context.Context, p CreateParams, hosts []string) (*Tenant, error) {
	target := r.migrator.TenantLine().Latest()
	t := &Tenant{Slug: p.Slug, Name: p.Name, Status: StatusActive, PaidUntil: p.PaidUntil, OnTrial: p.OnTrial, Tier: TierSchema}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// One statement claims the tenant and adds its domains: a round
		// trip less per signup (FOR UPDATE SKIP LOCKED hands concurrent
		// claims different tenants).
		err := tx.QueryRow(ctx, `
			WITH c AS (SELECT id FROM public.condo_tenants WHERE status = 'pending' AND migration_version = $5
			           AND tier = 'schema' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),
			u AS (UPDATE public.condo_tenants t SET slug = $1, name = $2, paid_until = $3, on_trial = $4, status = 'active',
			             created_on = current_date, created_at = now(), updated_at = now()
			      FROM c WHERE t.id = c.id
			      RETURNING t.id, t.schema_name, t.role_name, t.created_on, t.migration_version),
			d AS (INSERT INTO public.condo_domains (host, tenant_id, is_primary, verified_at)
			      SELECT h, u.id, o = 1, now() FROM u, unnest($6::text[]) WITH ORDINALITY AS x(h, o))
			SELECT id, schema_name, role_name, created_on, migration_version FROM u`,
			p.Slug, p.Name, dateArg(p.PaidUntil), p.OnTrial, target, hosts).Scan(&t.ID, &t.Schema, &t.Role, &t.CreatedOn, &t.MigrationVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoPending
		}
		if err != nil {
			return translate(err)
		}
		if err := pgident.Validate("schema", t.Schema); err != nil {
			return err
		}
		for i, h := range hosts {
			t.Domains = append(t.Domains, Domain{Host: h, Primary: i == 0, Verified: true})
		}
		// The notification goes with the search_path in one round trip;
		// it is heard at commit, as Create's is.
		if err := execScript(ctx, tx, "SET LOCAL search_path TO "+pgident.Quote(t.Schema)+";\n"+
			notifySQL(Change{Op: "create", ID: t.ID, Slug: t.Slug, Hosts: hosts})); err != nil {
			return err
		}
		for _, hook := range []OnTenantCreatedFunc{r.hook, p.OnCreated} {
			if hook == nil {
				continue
			}
			if err := hook(ctx, tx, t); err != nil {
				return fmt.Errorf("tenant %q created hook: %w", t.Slug, err)
			}
			// A hook may have changed it; the next one starts alike.
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgident.Quote(t.Schema)); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNoPending) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("create tenant %q: %w", p.Slug, err)
	}
	r.wakeRefill()
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant created", slog.String("tenant", t.Slug),
		slog.String("schema", t.Schema), slog.Bool("pending", true))
	return t, nil
}

// wakeRefill tells a [PendingPool] running in this process that a tenant
// was claimed, without waiting for it.
func (r *Registry) wakeRefill() {
	select {
	case r.claimed <- struct{}{}:
	default:
	}
}

// createPending adds one pending tenant unless size or more exist. It
// goes through [Registry.Create] itself, so a pending tenant is made
// exactly as any tenant is (role, grants, provisioning role, Citus, every
// migration): under a throwaway valid slug, which the last step, run in
// the creating transaction, replaces with the pending one after counting
// the pool under pendingLockKey. The throwaway slug is never committed. It
// returns false when the pool was full.
func (r *Registry) createPending(ctx context.Context, size int) (bool, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	_, err := r.Create(ctx, CreateParams{
		Slug:      "pending-" + hex.EncodeToString(b[:]),
		Name:      "pending",
		skipHooks: true,
		pending:   true,
		OnCreated: func(ctx context.Context, tx pgx.Tx, t *Tenant) error {
			// Two statements: a statement's snapshot is taken before it
			// waits for the lock, so a count in the same statement would
			// miss the tenant of the instance that held it (an overfill
			// TestPendingRefillRace caught); read committed gives the
			// second statement a snapshot taken after the wait.
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pendingLockKey); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM public.condo_tenants WHERE status = 'pending'").Scan(&n); err != nil {
				return err
			}
			if n >= size {
				return errPoolFull
			}
			_, err := tx.Exec(ctx, `UPDATE public.condo_tenants SET status = 'pending', slug = $2 || id, name = '', on_trial = false
				WHERE id = $1`, t.ID, pendingSlugPrefix)
			return err
		},
	})
	if errors.Is(err, errPoolFull) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("make pending tenant: %w", err)
	}
	return true, nil
}

// PendingStats describes the pool of pending tenants, as
// [Registry.PendingStats] reads it.
type PendingStats struct {
	// Total counts the pending tenants; Ready those at the latest tenant
	// migration version (Version), the ones [Registry.Create] may claim.
	Total, Ready int
	Version      int64
}

// PendingStats counts the pending tenants, in one query.
func (r *Registry) PendingStats(ctx context.Context) (*PendingStats, error) {
	s := &PendingStats{Version: r.migrator.TenantLine().Latest()}
	if err := r.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE migration_version = $1)
		FROM public.condo_tenants WHERE status = 'pending'`, s.Version).Scan(&s.Total, &s.Ready); err != nil {
		return nil, fmt.Errorf("count pending tenants: %w", err)
	}
	return s, nil
}

// pendingSurplus returns the slugs of the pending tenants beyond the first
// size (the newest versions first, then by id): every instance computes
// the same set, so instances shrinking at once purge the same tenants.
func (r *Registry) pendingSurplus(ctx context.Context, size int) ([]string, error) {
	rows, err := r.pool.Query(ctx, `SELECT slug FROM public.condo_tenants WHERE status = 'pending'
		ORDER BY migration_version DESC, id OFFSET $1`, size)
	if err != nil {
		return nil, fmt.Errorf("pending surplus: %w", err)
	}
	slugs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pending surplus: %w", err)
	}
	return slugs, nil
}
