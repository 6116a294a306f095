package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// stmtProfile writes pg_stat_statements snapshots while W5 at scale grows
// its tenants (issue 15: what grows in a creation), each the statements
// run since the last one, by total time, then resets the counters.
type stmtProfile struct {
	conn *pgx.Conn
	f    *os.File
}

func newStmtProfile(ctx context.Context, superURL, out string) (*stmtProfile, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	f, err := os.Create(filepath.Join(out, scaleDB+"-statements.log"))
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	_, err = conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return &stmtProfile{conn: conn, f: f}, err
}

// snapshot writes the 20 statements with the most total time since the
// last snapshot, with calls and mean ms, at tenants tenants.
func (p *stmtProfile) snapshot(ctx context.Context, tenants int) error {
	rows, err := p.conn.Query(ctx, `SELECT calls, total_exec_time, mean_exec_time, toplevel,
		left(regexp_replace(query, '\s+', ' ', 'g'), 140)
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20`)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "== %d tenants (load %s)\n", tenants, loadAvg())
	for rows.Next() {
		var calls int64
		var total, mean float64
		var top bool
		var q string
		if err := rows.Scan(&calls, &total, &mean, &top, &q); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%8d calls %10.1f ms total %8.3f ms mean top=%v  %s\n", calls, total, mean, top, q)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := p.f.WriteString(b.String()); err != nil {
		return err
	}
	_, err = p.conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return err
}

func (p *stmtProfile) close() {
	_ = p.f.Close()
	_ = p.conn.Close(context.Background())
}
