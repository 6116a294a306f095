package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/schemacopy"
)

// Errors of moves between tiers.
var (
	// ErrMoveInProgress: the tenant is already moving between tiers.
	// Returned by [Registry.MoveTier], and (wrapped in a
	// *condomigrate.MigrateError) by fleet migrations of a moving tenant:
	// migrate it once the move is switched or rolled back.
	ErrMoveInProgress = errors.New("tenant is moving between tiers")
	// ErrNoMove: the tenant has no move to resume or roll back. Returned
	// by [Registry.ResumeMove] and [Registry.RollbackMove].
	ErrNoMove = errors.New("tenant has no move between tiers")
)

// Place is where a tenant's schema lives: its tier, and for
// [TierDatabase] its server ("" is [MainServer]) and database.
type Place struct {
	Tier     Tier
	Server   string
	Database string
}

func (p Place) String() string {
	if p.Tier == TierDatabase {
		return fmt.Sprintf("database %s on %s", p.Database, serverKey(p.Server))
	}
	return string(p.Tier)
}

// placeOf is where t lives now.
func placeOf(t *Tenant) Place { return Place{Tier: t.Tier, Server: t.Server, Database: t.Database} }

// Move phases, as [TierMove].Phase records them. A move goes through them
// in this order; [Registry.ResumeMove] continues from the one recorded.
const (
	// MoveStarted: the target is being made (role, database, schema,
	// migrations up to the tenant's version).
	MoveStarted = "started"
	// MovePrepared: the target exists and the source captures changes.
	MovePrepared = "prepared"
	// MoveCopied: the rows are copied; catching up and the switch remain.
	MoveCopied = "copied"
	// MoveSwitched: the registry points at the target; the fenced old
	// copy waits for the grace period ([Registry.CleanupMoves]).
	MoveSwitched = "switched"
)

// TierMove is a move between tiers as the registry records it (core
// migration 0070_tier_moves): in progress, or switched with its old copy
// waiting for the grace period.
type TierMove struct {
	TenantID int64
	Slug     string
	From, To Place
	// Version is the tenant migration version the target was made at;
	// fleet migrations of the tenant are refused until the switch.
	Version    int64
	Phase      string
	Rows       int64
	WritePause time.Duration
	StartedAt  time.Time
	UpdatedAt  time.Time
	SwitchedAt *time.Time // nil before the switch

	toPassword []byte // the target role's sealed password (database tier)
}

// MoveProgress is one line of a move's progress (see
// [MoveTierOpts].Progress).
type MoveProgress struct {
	Phase    string // the phase just reached, or "catch-up"/"pause"
	Rows     int64  // rows copied, or changes applied
	Duration time.Duration
	// WritePause is how long the tenant's writes waited (the switch only).
	WritePause time.Duration
}

// MoveTierOpts are the optional parts of a move. A nil *MoveTierOpts is
// valid.
type MoveTierOpts struct {
	// Progress, when set, is called after each phase.
	Progress func(MoveProgress)
}

func (o *MoveTierOpts) progress(p MoveProgress) {
	if o != nil && o.Progress != nil {
		o.Progress(p)
	}
}

// MoveTierResult is what a finished move did.
type MoveTierResult struct {
	Move       TierMove
	Duration   time.Duration // this call, from its start to the switch
	WritePause time.Duration // how long the tenant's writes waited
	Rows       int64         // rows copied (0 when resumed past the copy)
}

// MoveTier moves the tenant named slug to another tier or server: to
// [TierSchema], or to [TierDatabase] on server ("" or [MainServer] for
// the registry's). It makes the target at the tenant's migration version,
// copies the rows while the tenant is served (internal/schemacopy),
// pauses its writes for the last changes and a verification (row counts
// and checksums), fences the old copy and switches the registry in the
// order that never leaves the tenant writable in two places, and returns.
// The fenced old copy stays until [Registry.CleanupMoves] drops it after
// the grace period.
//
// The move is recorded at every phase: after a kill, [Registry.ResumeMove]
// continues it and [Registry.RollbackMove] undoes it. A tenant with a
// switched move still waiting for its grace period gives that old copy up
// when it moves again (it is older than the tenant's current place).
//
// Returns [ErrTenantNotFound], [ErrMoveInProgress], [ErrNoSecretKey] and
// [ErrUnknownServer] (wrapped), [ErrTierUnsupported] on Citus, and the
// engine's errors (schemacopy's ErrBusy when writes did not pause in time:
// run [Registry.ResumeMove] later).
func (r *Registry) MoveTier(ctx context.Context, slug string, tier Tier, server string, opts *MoveTierOpts) (*MoveTierResult, error) {
	start := time.Now()
	m, err := r.startMove(ctx, slug, tier, server)
	if err != nil {
		return nil, fmt.Errorf("move tenant %q: %w", slug, err)
	}
	return r.runMove(ctx, m, opts, start)
}

// ResumeMove continues the recorded move of the tenant named slug from
// its phase. A move already switched returns at once. Returns
// [ErrNoMove] when there is none.
func (r *Registry) ResumeMove(ctx context.Context, slug string, opts *MoveTierOpts) (*MoveTierResult, error) {
	start := time.Now()
	m, err := r.moveOf(ctx, slug)
	if err != nil {
		return nil, fmt.Errorf("resume move of %q: %w", slug, err)
	}
	return r.runMove(ctx, m, opts, start)
}

// startMove checks the move and records it in phase started, after
// cleaning up an earlier switched move of the tenant.
func (r *Registry) startMove(ctx context.Context, slug string, tier Tier, server string) (*TierMove, error) {
	citus, err := r.citusVersion(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	if citus != "" {
		return nil, fmt.Errorf("registry on Citus %s: %w (Citus moves schemas between nodes: tenants move --node)", citus, ErrTierUnsupported)
	}
	if r.tier.box == nil {
		// Every move has a database-tier end.
		return nil, r.tier.keyErr
	}
	t, err := r.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	if t.Status == StatusDeleted || t.Status == StatusPending {
		return nil, fmt.Errorf("tenant is %s: %w", t.Status, ErrTenantNotFound)
	}
	if server == MainServer {
		server = ""
	}
	var to Place
	switch tier {
	case TierSchema:
		if server != "" {
			return nil, fmt.Errorf("a schema-tier tenant lives on the registry's server, not %q", server)
		}
		to = Place{Tier: TierSchema}
	case TierDatabase:
		if _, err := r.tier.server(server); err != nil {
			return nil, err
		}
		prefix, ok := strings.CutSuffix(t.Role, t.Schema)
		if !ok {
			return nil, fmt.Errorf("tenant role %q does not end with its schema %q", t.Role, t.Schema)
		}
		to = Place{Tier: TierDatabase, Server: server, Database: databaseName(prefix, t.ID)}
	default:
		return nil, fmt.Errorf("unknown tier %q", tier)
	}
	from := placeOf(t)
	if from == to {
		return nil, fmt.Errorf("tenant is in %s already", to)
	}
	if old, err := r.moveOf(ctx, slug); err == nil {
		if old.Phase != MoveSwitched {
			return nil, fmt.Errorf("%w (phase %s): resume or roll it back", ErrMoveInProgress, old.Phase)
		}
		if err := r.cleanupMove(ctx, old); err != nil {
			return nil, fmt.Errorf("drop the old copy of the previous move: %w", err)
		}
	} else if !errors.Is(err, ErrNoMove) {
		return nil, err
	}
	m := &TierMove{TenantID: t.ID, Slug: t.Slug, From: from, To: to, Phase: MoveStarted}
	if to.Tier == TierDatabase {
		m.toPassword = r.tier.box.Seal([]byte(newPassword()), passwordAD(t.ID))
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// The row lock waits for a fleet migration of the tenant in
		// flight, which holds it until its commit; the version is read
		// after it, by a statement of its own (a new snapshot).
		if _, err := tx.Exec(ctx, "SELECT 1 FROM public.condo_tenants WHERE id = $1 FOR UPDATE", t.ID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT migration_version FROM public.condo_tenants WHERE id = $1", t.ID).Scan(&m.Version); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO public.condo_tier_moves
			(tenant_id, from_tier, from_server, from_database, to_tier, to_server, to_database, to_password, version, phase)
			VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, 'started')
			ON CONFLICT (tenant_id) DO NOTHING RETURNING started_at, updated_at`,
			t.ID, from.Tier, from.Server, from.Database, to.Tier, to.Server, to.Database, m.toPassword, m.Version).
			Scan(&m.StartedAt, &m.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrMoveInProgress
	}
	if err != nil {
		return nil, err
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tier move started", slog.String("tenant", t.Slug),
		slog.String("from", from.String()), slog.String("to", to.String()), slog.Int64("version", m.Version))
	return m, nil
}

// runMove runs m from its recorded phase to the switch.
func (r *Registry) runMove(ctx context.Context, m *TierMove, opts *MoveTierOpts, start time.Time) (*MoveTierResult, error) {
	res := &MoveTierResult{}
	fail := func(err error) (*MoveTierResult, error) {
		return nil, fmt.Errorf("move tenant %q to %s (phase %s; resume or roll back): %w", m.Slug, m.To, m.Phase, err)
	}
	if m.Phase == MoveSwitched {
		res.Move = *m
		return res, nil
	}
	mv, closeMv, err := r.mover(ctx, m, m.Phase == MoveStarted)
	if err != nil {
		return fail(err)
	}
	defer closeMv()
	if m.Phase == MoveStarted {
		pstart := time.Now()
		if _, err := mv.Prepare(ctx); err != nil {
			return fail(err)
		}
		r.moveHook(ctx, "prepared")
		if err := r.setMovePhase(ctx, m, MovePrepared, 0); err != nil {
			return fail(err)
		}
		opts.progress(MoveProgress{Phase: MovePrepared, Duration: time.Since(pstart)})
	}
	if m.Phase == MovePrepared {
		pr, err := mv.Copy(ctx)
		if err != nil {
			return fail(err)
		}
		res.Rows = pr.Rows
		r.moveHook(ctx, "copied")
		if err := r.setMovePhase(ctx, m, MoveCopied, pr.Rows); err != nil {
			return fail(err)
		}
		opts.progress(MoveProgress{Phase: MoveCopied, Rows: pr.Rows, Duration: pr.Duration})
	}
	r.moveHook(ctx, "finish")
	fr, err := r.finishMove(ctx, mv, m)
	if err != nil {
		return fail(err)
	}
	m.Phase, m.WritePause = MoveSwitched, fr.WritePause
	// This instance's pool of the old place, if any, goes now; the others
	// close theirs when they hear the notification (Resolver).
	r.tier.pools.forgetMoved(m.TenantID, m.To.Server, m.To.Database)
	if _, err := r.pool.Exec(ctx, "UPDATE public.condo_tier_moves SET write_pause = $2 * interval '1 microsecond', updated_at = now() WHERE tenant_id = $1",
		m.TenantID, fr.WritePause.Microseconds()); err != nil {
		return fail(err)
	}
	res.Move, res.Duration, res.WritePause = *m, time.Since(start), fr.WritePause
	opts.progress(MoveProgress{Phase: MoveSwitched, Rows: fr.Applied, Duration: fr.Duration, WritePause: fr.WritePause})
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tier move switched", slog.String("tenant", m.Slug),
		slog.String("to", m.To.String()), slog.Duration("write_pause", fr.WritePause), slog.Duration("duration", res.Duration))
	return res, nil
}

// finishMove runs the engine's Finish with the registry's switch. When the
// source is in the registry's database, fence and switch are one commit.
// Otherwise the fence commits first, on the source's database, and the
// switch after it: so that a request failing at the fenced source in
// between does not give up (tx_moved.go), the move's registry row is
// locked before the fence, in the transaction that switches, and a
// request that failed there waits on that lock before it reads the tenant
// again.
func (r *Registry) finishMove(ctx context.Context, mv *schemacopy.Mover, m *TierMove) (*schemacopy.FinishResult, error) {
	if m.From.Tier == TierSchema {
		return mv.Finish(ctx, schemacopy.FinishOpts{
			Switch:           func(ctx context.Context, tx pgx.Tx) error { return r.switchMove(ctx, m, tx) },
			SwitchInSourceTx: true,
		})
	}
	rtx, err := r.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rtx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := rtx.Exec(ctx, "SELECT 1 FROM public.condo_tier_moves WHERE tenant_id = $1 FOR UPDATE", m.TenantID); err != nil {
		return nil, err
	}
	fr, err := mv.Finish(ctx, schemacopy.FinishOpts{
		Switch: func(ctx context.Context, _ pgx.Tx) error { return r.switchMove(ctx, m, rtx) },
	})
	if err != nil {
		return nil, err
	}
	if err := rtx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("switch: %w", err)
	}
	return fr, nil
}

// mover returns the engine's mover for m, with owner pools of both
// places, making the target first when makeTarget is set.
func (r *Registry) mover(ctx context.Context, m *TierMove, makeTarget bool) (*schemacopy.Mover, func(), error) {
	t, err := r.GetByID(ctx, m.TenantID)
	if err != nil {
		return nil, nil, err
	}
	if makeTarget {
		r.moveHook(ctx, "target")
		if err := r.makeTarget(ctx, m, t); err != nil {
			return nil, nil, fmt.Errorf("make target: %w", err)
		}
	}
	src, closeSrc, err := r.ownerPool(ctx, m.From)
	if err != nil {
		return nil, nil, err
	}
	dst, closeDst, err := r.ownerPool(ctx, m.To)
	if err != nil {
		closeSrc()
		return nil, nil, err
	}
	done := func() { closeSrc(); closeDst() }
	mv, err := schemacopy.New(schemacopy.Endpoint{Pool: src, Schema: t.Schema}, schemacopy.Endpoint{Pool: dst, Schema: t.Schema},
		&schemacopy.Config{Logger: r.logger, Skip: moveSkip})
	if err != nil {
		done()
		return nil, nil, err
	}
	return mv, done, nil
}

// moveSkip are the tables a move leaves to the target's creation: the
// tenant's migration history, which has no primary key (so the engine
// could not capture it) and which the target's migrations wrote already;
// fleet migrations of a moving tenant are refused, so it does not change.
var moveSkip = []string{condomigrate.HistoryTable}

// moveHook calls the registry's test hook at a named point of a move.
func (r *Registry) moveHook(ctx context.Context, point string) {
	if r.movePoint != nil {
		r.movePoint(ctx, point)
	}
}

// ownerPool returns a pool of p's database as the owner of its server:
// the registry's pool for the schema tier, a small pool of its own
// (closed by the returned func) for a tenant database.
func (r *Registry) ownerPool(ctx context.Context, p Place) (*pgxpool.Pool, func(), error) {
	if p.Tier != TierDatabase {
		return r.pool, func() {}, nil
	}
	sc, err := r.tier.server(p.Server)
	if err != nil {
		return nil, nil, err
	}
	cfg := sc.Copy()
	cfg.ConnConfig.Database = p.Database
	cfg.MaxConns, cfg.MinConns = 4, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, dbError(fmt.Errorf("connect to %s: %w", p, err))
	}
	return pool, pool.Close, nil
}

// setMovePhase records m's new phase.
func (r *Registry) setMovePhase(ctx context.Context, m *TierMove, phase string, rows int64) error {
	if _, err := r.pool.Exec(ctx, `UPDATE public.condo_tier_moves SET phase = $2, rows_copied = rows_copied + $3, updated_at = now()
		WHERE tenant_id = $1`, m.TenantID, phase, rows); err != nil {
		return fmt.Errorf("record phase %s: %w", phase, err)
	}
	m.Phase = phase
	m.Rows += rows
	return nil
}
