package schemacopy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// ErrNotFenced is returned by [Mover.Cleanup] when the source is live:
// Cleanup drops only a fenced copy.
var ErrNotFenced = errors.New("schemacopy: source not fenced")

// Cleanup drops the fenced old copy of the source (the caller runs it
// after a grace period), with its capture triggers, and forgets the move.
// It is one transaction, and does nothing when the move is already
// cleaned up. Returns [ErrNotFenced] when the source is still live.
func (m *Mover) Cleanup(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, m.src.Pool, func(tx pgx.Tx) error {
		phase, err := phaseIn(ctx, tx, m.src.Schema)
		switch {
		case err != nil:
			return err
		case phase == "":
			return nil
		case phase != "fenced":
			return ErrNotFenced
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgident.Quote(m.fencedName())+" CASCADE"); err != nil {
			return err
		}
		return forget(ctx, tx, m.src.Schema)
	})
	if err != nil {
		if errors.Is(err, ErrNotFenced) {
			return err
		}
		return fmt.Errorf("clean up %s: %w", m.src.Schema, err)
	}
	return nil
}

// Rollback abandons the move at any point before Cleanup: it unfences
// the source if needed, drops the capture triggers and the log, and
// empties the target's tables (the caller drops the target schema or
// database if it made them for the move). The caller must have switched
// the registry back to the source first if Finish had switched it. It is
// idempotent.
func (m *Mover) Rollback(ctx context.Context) error {
	if err := m.Unfence(ctx); err != nil {
		return err
	}
	// The target first: the foreign keys a killed Copy dropped are
	// recorded in the move's row, which the source's part deletes.
	fks, err := m.savedKeys(ctx)
	if err != nil {
		return err
	}
	dts, _, err := m.tables(ctx, m.dst.Pool, m.dst.Schema)
	if err != nil {
		return err
	}
	if len(dts) > 0 {
		names := make([]string, len(dts))
		for i, t := range dts {
			names[i] = pgident.QuoteQualified(m.dst.Schema, t.Name)
		}
		if _, err := m.dst.Pool.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
			return fmt.Errorf("roll back %s: empty target: %w", m.src.Schema, err)
		}
	}
	if err := m.restoreTargetKeys(ctx, fks); err != nil {
		return fmt.Errorf("roll back %s: %w", m.src.Schema, err)
	}
	ts, _, err := m.tables(ctx, m.src.Pool, m.src.Schema)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, m.src.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout TO "+fmt.Sprint(m.lockWait.Milliseconds())); err != nil {
			return err
		}
		for _, t := range ts {
			if _, err := tx.Exec(ctx, "DROP TRIGGER IF EXISTS "+triggerName+" ON "+pgident.QuoteQualified(m.src.Schema, t.Name)); err != nil {
				return err
			}
		}
		phase, err := phaseIn(ctx, tx, m.src.Schema)
		if err != nil || phase == "" {
			return err
		}
		return forget(ctx, tx, m.src.Schema)
	})
	if err != nil {
		return fmt.Errorf("roll back %s: %w", m.src.Schema, err)
	}
	return nil
}

// forget deletes the move's log and state.
func forget(ctx context.Context, tx pgx.Tx, schema string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM condo_schemacopy.log WHERE schema = $1", schema); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM condo_schemacopy.move WHERE schema = $1", schema)
	return err
}
