package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
	"github.com/condo-dev/condo/internal/schemacopy"
)

// DefaultMoveGrace is how long a switched move's fenced old copy is kept
// before [Registry.CleanupMoves] drops it, unless told otherwise.
const DefaultMoveGrace = 24 * time.Hour

// RollbackMove undoes the recorded move of the tenant named slug. Before
// the switch it gives the source back (unfenced, capture triggers gone)
// and drops the target (its database, or its schema, and a role made for
// it); the tenant was served from the source throughout. After the switch
// a rollback is a move back to where the tenant came from (see
// [Registry.MoveTier]), which copies the tenant's current rows: nothing
// written since the switch is lost. Returns [ErrNoMove].
func (r *Registry) RollbackMove(ctx context.Context, slug string, opts *MoveTierOpts) error {
	m, err := r.moveOf(ctx, slug)
	if err != nil {
		return fmt.Errorf("roll back move of %q: %w", slug, err)
	}
	if m.Phase == MoveSwitched {
		_, err := r.MoveTier(ctx, slug, m.From.Tier, m.From.Server, opts)
		return err
	}
	t, err := r.GetByID(ctx, m.TenantID)
	if err != nil {
		return err
	}
	if placeOf(t) != m.From {
		// Cannot happen (the switch records the phase with the place);
		// refuse rather than drop what may serve the tenant.
		return fmt.Errorf("roll back move of %q: tenant is in %s, the move came from %s", slug, placeOf(t), m.From)
	}
	if err := r.rollbackEngine(ctx, m, t); err != nil {
		return fmt.Errorf("roll back move of %q: %w", slug, err)
	}
	if m.To.Tier == TierDatabase {
		// The role goes too when it was made for the move (another server).
		dropRole := serverKey(m.To.Server) != serverKey(m.From.Server)
		if err := r.dropTenantDatabase(ctx, m.To.Server, m.To.Database, t.Role, dropRole); err != nil {
			return fmt.Errorf("roll back move of %q: %w", slug, err)
		}
	} else if _, err := r.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgident.Quote(t.Schema)+" CASCADE"); err != nil {
		return fmt.Errorf("roll back move of %q: drop target schema: %w", slug, err)
	}
	if _, err := r.pool.Exec(ctx, "DELETE FROM public.condo_tier_moves WHERE tenant_id = $1 AND phase <> 'switched'", m.TenantID); err != nil {
		return fmt.Errorf("roll back move of %q: %w", slug, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tier move rolled back", slog.String("tenant", slug), slog.String("phase", m.Phase))
	return nil
}

// rollbackEngine runs the engine's Rollback (unfence, drop the capture
// triggers and the log) when the target database exists; when it does not,
// the move was killed before Prepare and the source has nothing to undo.
func (r *Registry) rollbackEngine(ctx context.Context, m *TierMove, t *Tenant) error {
	if m.To.Tier == TierDatabase {
		ok, err := r.databaseExists(ctx, m.To.Server, m.To.Database)
		if err != nil || !ok {
			return err
		}
	}
	src, closeSrc, err := r.ownerPool(ctx, m.From)
	if err != nil {
		return err
	}
	defer closeSrc()
	dst, closeDst, err := r.ownerPool(ctx, m.To)
	if err != nil {
		return err
	}
	defer closeDst()
	mv, err := schemacopy.New(schemacopy.Endpoint{Pool: src, Schema: t.Schema}, schemacopy.Endpoint{Pool: dst, Schema: t.Schema},
		&schemacopy.Config{Logger: r.logger, Skip: moveSkip})
	if err != nil {
		return err
	}
	return mv.Rollback(ctx)
}

func (r *Registry) databaseExists(ctx context.Context, server, database string) (bool, error) {
	admin, err := r.tier.connectAs(ctx, server, "")
	if err != nil {
		return false, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var ok bool
	err = admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", database).Scan(&ok)
	return ok, err
}

// CleanupMoves drops the fenced old copies of the moves switched more
// than grace ago (a negative grace means [DefaultMoveGrace]; 0 drops them
// all) and forgets those moves. Several instances may run it at once:
// each move is taken with its row locked (SKIP LOCKED), so exactly one
// drops it. It returns the moves it cleaned up; on an error, those before
// it.
func (r *Registry) CleanupMoves(ctx context.Context, grace time.Duration) ([]TierMove, error) {
	if grace < 0 {
		grace = DefaultMoveGrace
	}
	var done []TierMove
	for {
		var m *TierMove
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			var id int64
			err := tx.QueryRow(ctx, `SELECT tenant_id FROM public.condo_tier_moves
				WHERE phase = 'switched' AND switched_at <= now() - make_interval(secs => $1)
				ORDER BY switched_at LIMIT 1 FOR UPDATE SKIP LOCKED`, grace.Seconds()).Scan(&id)
			if err != nil {
				return err
			}
			ms, err := r.queryMoves(ctx, "WHERE m.tenant_id = $1", id)
			if err != nil || len(ms) == 0 {
				return err
			}
			m = &ms[0]
			if err := r.dropOldCopy(ctx, m); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "DELETE FROM public.condo_tier_moves WHERE tenant_id = $1", id)
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return done, nil
		}
		if err != nil {
			return done, fmt.Errorf("clean up moves: %w", err)
		}
		if m != nil {
			r.logger.LogAttrs(ctx, slog.LevelInfo, "tier move cleaned up", slog.String("tenant", m.Slug), slog.String("old", m.From.String()))
			done = append(done, *m)
		}
	}
}

// cleanupMove drops m's old copy now and forgets m (a tenant moving again).
func (r *Registry) cleanupMove(ctx context.Context, m *TierMove) error {
	if err := r.dropOldCopy(ctx, m); err != nil {
		return err
	}
	_, err := r.pool.Exec(ctx, "DELETE FROM public.condo_tier_moves WHERE tenant_id = $1 AND phase = 'switched'", m.TenantID)
	return err
}

// dropOldCopy drops the fenced old copy of switched move m: the fenced
// schema (engine Cleanup) in the registry's database, or the old
// database; the tenant's role there goes too when the tenant no longer
// lives on that server.
func (r *Registry) dropOldCopy(ctx context.Context, m *TierMove) error {
	t, err := r.GetByID(ctx, m.TenantID)
	if err != nil {
		return err
	}
	dropRole := serverKey(m.From.Server) != serverKey(t.Server)
	if m.From.Tier == TierDatabase {
		return r.dropTenantDatabase(ctx, m.From.Server, m.From.Database, t.Role, dropRole)
	}
	mv, err := schemacopy.New(schemacopy.Endpoint{Pool: r.pool, Schema: t.Schema}, schemacopy.Endpoint{Pool: r.pool, Schema: t.Schema},
		&schemacopy.Config{Logger: r.logger, Skip: moveSkip})
	if err != nil {
		return err
	}
	if err := mv.Cleanup(ctx); err != nil {
		return err
	}
	if dropRole {
		if _, err := r.pool.Exec(ctx, "DROP ROLE IF EXISTS "+pgident.Quote(t.Role)); err != nil {
			return fmt.Errorf("drop role of old copy: %w", err)
		}
	}
	return nil
}
