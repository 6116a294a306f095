package schemacopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/internal/pgident"
)

// FinishOpts says how [Mover.Finish] switches the registry.
type FinishOpts struct {
	// Switch points the registry at the target. Required.
	Switch SwitchFunc
	// SwitchInSourceTx says the registry lives in the source's database:
	// Switch then runs in the fencing transaction and both commit at once.
	// Otherwise the fence commits first (durably) and Switch runs after.
	SwitchInSourceTx bool
}

// FinishResult is what [Mover.Finish] did.
type FinishResult struct {
	// Duration is the whole call, catching up included.
	Duration time.Duration
	// WritePause is how long writes to the source were blocked: from the
	// lock request to the fence's commit. Reads were never blocked.
	WritePause time.Duration
	// CatchUp is the time spent catching up before the pause.
	CatchUp time.Duration
	// Verify is the part of the pause spent verifying.
	Verify time.Duration
	// Applied is the number of changes applied during the pause.
	Applied int64
	// Tables is what verification compared.
	Tables []TableCheck
	// Resumed is set when the source was fenced already (a resumed
	// Finish): only the verification and Switch ran.
	Resumed bool
}

// Finish ends the move. It catches up until the log is small, then, in
// one source transaction: locks every source table IN EXCLUSIVE MODE (writes
// wait, reads go on), applies the last changes and the sequences, verifies
// every table (row count and checksum, both sides at once), fences the
// source (renames its schema to condo_moved_<schema> and revokes every
// grant on it: a writer that was waiting for the lock finds no table
// when it gets it and fails, instead of writing to the old copy), and
// switches the registry with opts.Switch — in the same commit when
// opts.SwitchInSourceTx, else right after the fence's commit, so that a
// kill in between leaves the tenant fenced and not switched: served
// nowhere until Finish is run again (it then verifies and switches) or
// [Mover.Unfence] / [Mover.Rollback] gives the source back.
//
// Returns a [*MismatchError] (matching [ErrMismatch]) when verification
// fails: the lock is released, nothing is fenced or switched. Returns
// [ErrBusy] when writes did not pause within Config.LockTimeout,
// [ErrNotPrepared] or [ErrNotCopied] out of order, and Switch's error.
func (m *Mover) Finish(ctx context.Context, opts FinishOpts) (*FinishResult, error) {
	if opts.Switch == nil {
		return nil, errors.New("schemacopy: FinishOpts.Switch is required")
	}
	start := time.Now()
	switch phase, err := m.phase(ctx); {
	case err != nil:
		return nil, err
	case phase == "":
		return nil, ErrNotPrepared
	case phase == "prepared":
		return nil, ErrNotCopied
	case phase == "fenced":
		return m.resumeFinish(ctx, opts, start)
	}
	res := &FinishResult{}
	for range 10 {
		r, err := m.CatchUp(ctx)
		if err != nil {
			return nil, err
		}
		if r.Rows < int64(m.small) {
			break
		}
	}
	res.CatchUp = time.Since(start)
	ts, seqs, err := m.tables(ctx, m.src.Pool, m.src.Schema)
	if err != nil {
		return nil, err
	}

	tx, err := m.src.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	defer rollbackTx(ctx, tx)
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout TO "+fmt.Sprint(m.lockWait.Milliseconds())); err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = pgident.QuoteQualified(m.src.Schema, t.Name)
	}
	pauseStart := time.Now()
	if len(ts) > 0 {
		// EXCLUSIVE conflicts with the ROW EXCLUSIVE lock of INSERT,
		// UPDATE and DELETE, not with the ACCESS SHARE of SELECT.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN EXCLUSIVE MODE"); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == pgerrcode.LockNotAvailable {
				err = ErrBusy
			}
			return nil, fmt.Errorf("finish %s: pause writes: %w", m.src.Schema, err)
		}
	}
	m.hook(ctx, "finish:locked")
	res.Applied, err = m.apply(ctx, tx, ts, func(dst pgx.Tx) error {
		return copySequences(ctx, tx, dst, m.src.Schema, m.dst.Schema, seqs)
	})
	if err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	vstart := time.Now()
	// Other connections see what tx sees: no write can commit meanwhile.
	res.Tables, err = m.verify(ctx, m.src.Schema, ts)
	res.Verify = time.Since(vstart)
	if err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	m.hook(ctx, "finish:verified")
	if err := m.fence(ctx, tx); err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	if opts.SwitchInSourceTx {
		if err := opts.Switch(ctx, tx); err != nil {
			return nil, fmt.Errorf("finish %s: switch: %w", m.src.Schema, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("finish %s: fence: %w", m.src.Schema, err)
	}
	res.WritePause = time.Since(pauseStart)
	m.hook(ctx, "finish:fenced")
	if !opts.SwitchInSourceTx {
		if err := opts.Switch(ctx, nil); err != nil {
			return nil, fmt.Errorf("finish %s: switch (source fenced: run Finish again or Unfence): %w", m.src.Schema, err)
		}
	}
	res.Duration = time.Since(start)
	m.log.LogAttrs(ctx, slog.LevelInfo, "schemacopy finished", slogSchema(m.src.Schema),
		slogPause(res.WritePause), slogDur(res.Duration))
	return res, nil
}

// resumeFinish completes a Finish killed after the fence's commit: it
// verifies the fenced source against the target again and switches.
func (m *Mover) resumeFinish(ctx context.Context, opts FinishOpts, start time.Time) (*FinishResult, error) {
	res := &FinishResult{Resumed: true}
	ts, _, err := m.tables(ctx, m.src.Pool, m.fencedName())
	if err != nil {
		return nil, err
	}
	vstart := time.Now()
	res.Tables, err = m.verify(ctx, m.fencedName(), ts)
	res.Verify = time.Since(vstart)
	if err != nil {
		return nil, fmt.Errorf("finish %s: %w", m.src.Schema, err)
	}
	if opts.SwitchInSourceTx {
		err = pgx.BeginFunc(ctx, m.src.Pool, func(tx pgx.Tx) error { return opts.Switch(ctx, tx) })
	} else {
		err = opts.Switch(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("finish %s: switch (source fenced: run Finish again or Unfence): %w", m.src.Schema, err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// fence renames the source schema and revokes every grant on it, keeping
// the grants in the move's row for [Mover.Unfence].
func (m *Mover) fence(ctx context.Context, tx pgx.Tx) error {
	var acl *string
	if err := tx.QueryRow(ctx, "SELECT nspacl::text FROM pg_namespace WHERE nspname = $1", m.src.Schema).Scan(&acl); err != nil {
		return fmt.Errorf("read grants: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
FROM pg_namespace n, aclexplode(n.nspacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = $1 AND a.grantee <> n.nspowner`, m.src.Schema)
	if err != nil {
		return fmt.Errorf("read grantees: %w", err)
	}
	grantees, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read grantees: %w", err)
	}
	fenced := pgident.Quote(m.fencedName())
	if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgident.Quote(m.src.Schema)+" RENAME TO "+fenced); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	if len(grantees) > 0 {
		// Names quoted by quote_ident in the catalog query above.
		if _, err := tx.Exec(ctx, "REVOKE ALL ON SCHEMA "+fenced+" FROM "+strings.Join(grantees, ", ")); err != nil {
			return fmt.Errorf("fence: revoke: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE condo_schemacopy.move SET phase = 'fenced', acl = $2 WHERE schema = $1",
		m.src.Schema, acl); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}

// Unfence gives a fenced source back: it renames the schema back and
// restores its grants, and the move returns to the "copied" phase (the
// capture triggers kept logging; a later Finish catches up again). The
// caller must have switched the registry back to the source first, or
// never switched it. It does nothing when the source is not fenced.
func (m *Mover) Unfence(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, m.src.Pool, func(tx pgx.Tx) error {
		phase, err := phaseIn(ctx, tx, m.src.Schema)
		if err != nil || phase != "fenced" {
			return err
		}
		if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgident.Quote(m.fencedName())+" RENAME TO "+pgident.Quote(m.src.Schema)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, a.is_grantable
FROM condo_schemacopy.move m, aclexplode(m.acl::aclitem[]) a LEFT JOIN pg_roles r ON r.oid = a.grantee, pg_namespace n
WHERE m.schema = $1 AND n.nspname = $1 AND a.grantee <> n.nspowner AND (a.grantee = 0 OR r.oid IS NOT NULL)`, m.src.Schema)
		if err != nil {
			return err
		}
		type grant struct {
			Priv, Grantee string
			Grantable     bool
		}
		grants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grant])
		if err != nil {
			return err
		}
		for _, g := range grants {
			q := "GRANT " + g.Priv + " ON SCHEMA " + pgident.Quote(m.src.Schema) + " TO " + g.Grantee
			if g.Grantable {
				q += " WITH GRANT OPTION"
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "UPDATE condo_schemacopy.move SET phase = 'copied', acl = NULL WHERE schema = $1", m.src.Schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("unfence %s: %w", m.src.Schema, err)
	}
	return nil
}
