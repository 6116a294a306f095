package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// setStatus moves a tenant to status, announcing op.
func (r *Registry) setStatus(ctx context.Context, slug string, status Status, op string) error {
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if t.Status == StatusDeleted && status != StatusDeleted && op != "restore" {
			return ErrTenantDeleted
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET status = $2, updated_at = now() WHERE id = $1", t.ID, string(status)); err != nil {
			return err
		}
		return notify(ctx, tx, Change{Op: op, ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return fmt.Errorf("%s tenant %q: %w", op, slug, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant "+op, slog.String("tenant", slug))
	return nil
}

// Suspend stops serving the tenant (its site shows a suspended page); its
// data is kept. Returns [ErrTenantNotFound] or [ErrTenantDeleted].
func (r *Registry) Suspend(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusSuspended, "suspend")
}

// Resume makes a suspended tenant active again. Returns
// [ErrTenantNotFound] or [ErrTenantDeleted].
func (r *Registry) Resume(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusActive, "resume")
}

// Restore makes a deleted (not purged) tenant active again.
func (r *Registry) Restore(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusActive, "restore")
}

// UpdateParams changes a tenant's attributes; nil fields stay.
type UpdateParams struct {
	Name      *string
	PaidUntil *time.Time
	// ClearPaidUntil sets paid_until to NULL.
	ClearPaidUntil bool
	OnTrial        *bool
}

// Update changes name, paid_until or trial. Returns [ErrTenantNotFound] or a
// [*NameError] for a bad name.
func (r *Registry) Update(ctx context.Context, slug string, p UpdateParams) (*Tenant, error) {
	if p.Name != nil {
		if err := ValidateName(*p.Name); err != nil {
			return nil, err
		}
	}
	var out *Tenant
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if p.Name != nil {
			t.Name = *p.Name
		}
		if p.PaidUntil != nil {
			t.PaidUntil = p.PaidUntil
		}
		if p.ClearPaidUntil {
			t.PaidUntil = nil
		}
		if p.OnTrial != nil {
			t.OnTrial = *p.OnTrial
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET name = $2, paid_until = $3, on_trial = $4, updated_at = now() WHERE id = $1",
			t.ID, t.Name, dateArg(t.PaidUntil), t.OnTrial); err != nil {
			return err
		}
		out = t
		return notify(ctx, tx, Change{Op: "update", ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return nil, fmt.Errorf("update tenant %q: %w", slug, err)
	}
	return out, nil
}

// Rename changes a tenant's slug (and so its subdomain). The schema, role
// and data stay as they are: they are named after the tenant's id. Returns
// [ErrTenantNotFound], [ErrTenantExists], or a [*NameError].
func (r *Registry) Rename(ctx context.Context, oldSlug, newSlug string) error {
	if err := r.ValidateSlug(newSlug); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, oldSlug)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET slug = $2, updated_at = now() WHERE id = $1", t.ID, newSlug); err != nil {
			return translate(err)
		}
		return notify(ctx, tx, Change{Op: "rename", ID: t.ID, Slug: newSlug, OldSlug: oldSlug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return fmt.Errorf("rename tenant %q to %q: %w", oldSlug, newSlug, err)
	}
	return nil
}

// DeleteOpts tunes [Registry.Delete]. A nil *DeleteOpts is valid.
type DeleteOpts struct {
	// Purge drops the schema, the role and the registry rows for good.
	// Without it the tenant is only marked deleted: it is no longer served,
	// and its data and slug are kept so it can be restored or exported.
	Purge bool
}

// Delete marks a tenant deleted, or purges it when opts.Purge is set (all in
// one transaction; a database-tier tenant's database and role are dropped
// right after it), and then its files ([RegistryConfig].Files): files are
// removed after the commit, so a failed purge never loses them; a failure
// there leaves files no tenant can reach (ids are not reused) and is
// returned. Returns [ErrTenantNotFound]; a pending tenant's "~pending-N"
// slug is found only with Purge.
func (r *Registry) Delete(ctx context.Context, slug string, opts *DeleteOpts) error {
	if opts == nil || !opts.Purge {
		return r.setStatus(ctx, slug, StatusDeleted, "delete")
	}
	// A pending tenant may be purged by its slug (an operator discarding
	// a ready-made tenant gives nothing to anyone), unlike every other
	// command, which does not find it (lockTenant).
	return r.purge(ctx, slug, lockAnyTenant)
}

// purge is Delete with Purge, of the tenant lock finds: lockAnyTenant, or
// lockPending for the pending pool's surplus.
func (r *Registry) purge(ctx context.Context, slug string, lock func(context.Context, pgx.Tx, string) (*Tenant, error)) error {
	// A move's old copy goes first; a move in progress must be finished
	// or rolled back (its target would be left behind).
	if m, err := r.moveOf(ctx, slug); err == nil {
		if m.Phase != MoveSwitched {
			return fmt.Errorf("purge tenant %q: %w (phase %s): resume or roll it back first", slug, ErrMoveInProgress, m.Phase)
		}
		if err := r.cleanupMove(ctx, m); err != nil {
			return fmt.Errorf("purge tenant %q: drop the old copy of its move: %w", slug, err)
		}
	} else if !errors.Is(err, ErrNoMove) && !errors.Is(err, ErrTenantNotFound) {
		return fmt.Errorf("purge tenant %q: %w", slug, err)
	}
	var purged *Tenant
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lock(ctx, tx, slug)
		if err != nil {
			return err
		}
		purged = t
		if t.Tier == TierDatabase {
			// Its database and role go after the commit (see below).
			return execScript(ctx, tx, fmt.Sprintf("DELETE FROM public.condo_tenants WHERE id = %d;\n", t.ID)+
				notifySQL(Change{Op: "purge", ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)}))
		}
		if err := pgident.Validate("schema", t.Schema); err != nil {
			return err
		}
		if err := pgident.Validate("role", t.Role); err != nil {
			return err
		}
		if _, err := r.prefix(ctx, tx); err != nil {
			return err
		}
		sql := "DROP SCHEMA IF EXISTS " + pgident.Quote(t.Schema) + " CASCADE;\n"
		// On 16+ only a role's admins may drop it: the provisioning role
		// that created it, if one did ([Provision]), else the owner.
		var prov *int
		if r.serverNum >= 160000 {
			err := tx.QueryRow(ctx, "SELECT ("+adminProvisionerSQL("(SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)")+")", t.Role).Scan(&prov)
			if err != nil {
				return err
			}
		}
		sql += r.dropTenantRoleSQL(t.Role, prov)
		sql += fmt.Sprintf("DELETE FROM public.condo_tenants WHERE id = %d;\n", t.ID) +
			notifySQL(Change{Op: "purge", ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
		return execScript(ctx, tx, sql)
	})
	if err != nil {
		return fmt.Errorf("purge tenant %q: %w", slug, err)
	}
	if purged.Tier == TierDatabase {
		// DROP DATABASE can't run in the transaction that deleted the
		// row. Dropped after it, a failure (or crash) here leaves an
		// orphan database that no tenant points at, which doctor reports
		// ([Registry.OrphanDatabases]), never a tenant without data.
		if err := r.dropDatabase(ctx, purged); err != nil {
			return fmt.Errorf("tenant %q purged, its database %q left as an orphan: %w", slug, purged.Database, err)
		}
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant purged", slog.String("tenant", slug))
	if r.files != nil {
		if err := r.files.Purge(ctx, purged); err != nil {
			return fmt.Errorf("tenant %q purged, its files not: %w", slug, err)
		}
	}
	return nil
}

// dropTenantRoleSQL returns the statements that drop tenant role role
// (validated, not quoted) and what it owns: through the function of
// provisioning role prov when that one made it (on 16+ only a role's
// admins may drop it; adminProvisionerSQL finds it), counting it off that
// role's share, else as the owner.
func (r *Registry) dropTenantRoleSQL(role string, prov *int) string {
	ro := pgident.Quote(role)
	switch {
	case prov != nil:
		return "UPDATE public.condo_provisioners SET roles = greatest(roles - 1, 0) WHERE shard = " + strconv.Itoa(*prov) + ";\n" +
			provisionCallSQL(*prov, "drop", role, "NULL", false)
	case r.serverNum >= 160000:
		// DROP OWNED BY needs the privileges of the role, which the
		// membership made by Create does not inherit.
		return "GRANT " + ro + " TO CURRENT_USER WITH INHERIT TRUE;\n" +
			"DROP OWNED BY " + ro + ";\nDROP ROLE " + ro + ";\n"
	default:
		// On 15 the owner's membership inherits, but with provisioning
		// roles the owner may not be a member at all; CREATEROLE may
		// grant it (a notice when it is one already).
		return "GRANT " + ro + " TO CURRENT_USER;\n" +
			"DROP OWNED BY " + ro + ";\nDROP ROLE " + ro + ";\n"
	}
}
