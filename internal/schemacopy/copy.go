package schemacopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/condo-dev/condo/internal/pgident"
)

// Copy empties the target's tables and copies every source table into
// them from one snapshot of the source, while the tenant keeps reading and
// writing; the changes made meanwhile are in the log for [Mover.CatchUp].
// Tables are streamed with COPY in binary form, up to Config.Parallel at
// once, with the target's foreign keys dropped and then added back (see
// fkey). Sequences get the source's values.
//
// A Copy killed half-way leaves a partial target that only a new Copy
// repairs: the move's phase becomes "copied" in the same transaction that
// ends the snapshot, and CatchUp and Finish refuse to run before it
// ([ErrNotCopied]). Returns [ErrNotPrepared] before [Mover.Prepare] and
// [ErrFenced] after the fence.
func (m *Mover) Copy(ctx context.Context) (*PhaseResult, error) {
	start := time.Now()
	switch phase, err := m.phase(ctx); {
	case err != nil:
		return nil, err
	case phase == "":
		return nil, ErrNotPrepared
	case phase == "fenced":
		return nil, ErrFenced
	}
	ts, seqs, err := m.tables(ctx, m.src.Pool, m.src.Schema)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = pgident.QuoteQualified(m.dst.Schema, t.Name)
	}
	fks, err := m.dropTargetKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	if len(ts) > 0 {
		if _, err := m.dst.Pool.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
			return nil, fmt.Errorf("empty target %s: %w", m.dst.Schema, err)
		}
	}

	// The snapshot: one transaction that forgets the changes it already
	// sees (they are in the copy) and exports its snapshot to the workers.
	snap, err := m.src.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	defer rollbackTx(ctx, snap)
	if _, err := snap.Exec(ctx, "DELETE FROM condo_schemacopy.log WHERE schema = $1", m.src.Schema); err != nil {
		return nil, fmt.Errorf("copy %s: trim log: %w", m.src.Schema, err)
	}
	var snapshot string
	if err := snap.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("copy %s: export snapshot: %w", m.src.Schema, err)
	}

	var rows atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.parallel)
	for _, t := range ts {
		g.Go(func() error {
			n, err := m.copyTable(gctx, snapshot, t)
			rows.Add(n)
			m.hook(gctx, "copy:table")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	if err := copySequences(ctx, snap, m.dst.Pool, m.src.Schema, m.dst.Schema, seqs); err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	m.hook(ctx, "copy:loaded")
	if err := m.restoreTargetKeys(ctx, fks); err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	if len(ts) > 0 {
		// The target serves the tenant's queries after the switch: it
		// needs statistics, and autovacuum would come later.
		if _, err := m.dst.Pool.Exec(ctx, "ANALYZE "+strings.Join(names, ", ")); err != nil {
			return nil, fmt.Errorf("copy %s: analyze target: %w", m.src.Schema, err)
		}
	}
	if _, err := snap.Exec(ctx, "UPDATE condo_schemacopy.move SET phase = 'copied', fks = NULL WHERE schema = $1", m.src.Schema); err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	if err := snap.Commit(ctx); err != nil {
		return nil, fmt.Errorf("copy %s: %w", m.src.Schema, err)
	}
	res := &PhaseResult{Duration: time.Since(start), Rows: rows.Load()}
	m.log.LogAttrs(ctx, slog.LevelInfo, "schemacopy copied", slogSchema(m.src.Schema), slogRows(res.Rows), slogDur(res.Duration))
	return res, nil
}

// copyTable streams one table from the exported snapshot to the target:
// COPY TO on the source feeds COPY FROM on the target through a pipe, so
// no table is ever held in memory.
func (m *Mover) copyTable(ctx context.Context, snapshot string, t table) (int64, error) {
	src, err := m.src.Pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer src.Release()
	dst, err := m.dst.Pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer dst.Release()
	tx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer rollbackTx(ctx, tx)
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(snapshot)); err != nil {
		return 0, fmt.Errorf("import snapshot: %w", err)
	}
	// Emptied and loaded in one transaction, so COPY may write the rows
	// frozen: the first reads of the target (verification, in the write
	// pause) then need not set hint bits on every page.
	dtx, err := dst.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollbackTx(ctx, dtx)
	if _, err := dtx.Exec(ctx, "TRUNCATE "+pgident.QuoteQualified(m.dst.Schema, t.Name)); err != nil {
		return 0, fmt.Errorf("table %s: %w", t.Name, err)
	}
	cols := colList("", t.Cols)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := src.Conn().PgConn().CopyTo(ctx, pw,
			"COPY "+pgident.QuoteQualified(m.src.Schema, t.Name)+" ("+cols+") TO STDOUT (FORMAT binary)")
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := dst.Conn().PgConn().CopyFrom(ctx, pr,
		"COPY "+pgident.QuoteQualified(m.dst.Schema, t.Name)+" ("+cols+") FROM STDIN (FORMAT binary, FREEZE)")
	pr.CloseWithError(errors.New("target copy ended"))
	if srcErr := <-done; srcErr != nil && err == nil {
		err = srcErr
	}
	if err == nil {
		err = dtx.Commit(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("table %s: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}

// copySequences gives the target's sequences the source's values, read
// in q's snapshot.
func copySequences(ctx context.Context, q rowQuerier, dst execer, srcSchema, dstSchema string, seqs []string) error {
	for _, s := range seqs {
		var last int64
		var called bool
		err := q.QueryRow(ctx, "SELECT last_value, is_called FROM "+pgident.QuoteQualified(srcSchema, s)).Scan(&last, &called)
		if err != nil {
			return fmt.Errorf("sequence %s: %w", s, err)
		}
		if _, err := dst.Exec(ctx, "SELECT pg_catalog.setval($1::regclass, $2, $3)",
			pgident.QuoteQualified(dstSchema, s), last, called); err != nil {
			return fmt.Errorf("sequence %s: %w", s, err)
		}
	}
	return nil
}
