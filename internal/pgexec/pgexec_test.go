package pgexec_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/pgexec"
)

func TestMain(m *testing.M) { condotest.Main(m) }

func TestEach(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	ctx := t.Context()
	tests := []struct {
		name      string
		stmts     []string
		wantIndex int // -1: no error
		wantCode  string
		wantRows  int64
	}{
		{"all run", []string{"CREATE TABLE public.t (x int)", "INSERT INTO public.t VALUES (1)", "INSERT INTO public.t VALUES (2)"}, -1, "", 2},
		{"second fails, third skipped", []string{"CREATE TABLE public.t (x int)", "INSERT INTO public.nope VALUES (1)", "INSERT INTO public.t VALUES (2)"}, 1, "42P01", 0},
		{"two statements in one string are refused", []string{"CREATE TABLE public.t (x int)", "INSERT INTO public.t VALUES (1); INSERT INTO public.t VALUES (2)"}, 1, "42601", 0},
		{"none", nil, -1, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			err = pgexec.Each(ctx, tx.Conn().PgConn(), tt.stmts)
			if tt.wantIndex < 0 {
				if err != nil {
					t.Fatalf("Each: %v", err)
				}
			} else {
				var pe *pgexec.Error
				var pg *pgconn.PgError
				if !errors.As(err, &pe) || pe.Index != tt.wantIndex || !errors.As(err, &pg) || pg.Code != tt.wantCode {
					t.Fatalf("Each error = %v, want statement %d failing with %s", err, tt.wantIndex, tt.wantCode)
				}
				return
			}
			if tt.wantRows < 0 {
				return
			}
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM public.t").Scan(&n); err != nil || n != tt.wantRows {
				t.Fatalf("rows = %d, %v; want %d", n, err, tt.wantRows)
			}
		})
	}
}
