package condo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantCounts counts the tenants by status, as [Registry.Counts] reads
// them.
type TenantCounts struct {
	Active, Suspended, Deleted int
	// Trial counts the tenants on trial that are not deleted.
	Trial int
}

// Counts counts the tenants by status, in one query.
func (r *Registry) Counts(ctx context.Context) (*TenantCounts, error) {
	c := &TenantCounts{}
	err := r.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'active'),
			count(*) FILTER (WHERE status = 'suspended'),
			count(*) FILTER (WHERE status = 'deleted'),
			count(*) FILTER (WHERE on_trial AND status NOT IN ('deleted', 'pending'))
		FROM public.condo_tenants`).Scan(&c.Active, &c.Suspended, &c.Deleted, &c.Trial)
	if err != nil {
		return nil, fmt.Errorf("count tenants: %w", err)
	}
	return c, nil
}

// WeekCount is how many tenants were created in the week starting Week
// (a Monday).
type WeekCount struct {
	Week    time.Time
	Tenants int64
}

// CreatedPerWeek counts the tenants created (in any status now, purged
// and pending ones aside; a claimed tenant counts from its claim) in each of the last weeks weeks, the current one included,
// oldest first; weeks without any are there with zero. weeks must be 1 to
// 520.
func (r *Registry) CreatedPerWeek(ctx context.Context, weeks int) ([]WeekCount, error) {
	if weeks < 1 || weeks > 520 {
		return nil, fmt.Errorf("tenants created per week: %d weeks out of range 1..520", weeks)
	}
	rows, err := r.pool.Query(ctx, `
		SELECT w::date, count(t.id)
		FROM generate_series(date_trunc('week', current_date) - $1 * interval '1 week', date_trunc('week', current_date), interval '1 week') AS w
		LEFT JOIN public.condo_tenants t ON date_trunc('week', t.created_on) = w AND t.status <> 'pending'
		GROUP BY w ORDER BY w`, weeks-1)
	if err != nil {
		return nil, fmt.Errorf("tenants created per week: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WeekCount])
	if err != nil {
		return nil, fmt.Errorf("tenants created per week: %w", err)
	}
	return out, nil
}

// Slugs returns the slugs of the tenants with those ids, by id; ids of
// purged and pending tenants are left out. For pages that show rows of the
// application's own tables, which refer to tenants by id.
func (r *Registry) Slugs(ctx context.Context, ids []int64) (map[int64]string, error) {
	rows, err := r.pool.Query(ctx, "SELECT id, slug FROM public.condo_tenants WHERE id = ANY($1) AND status <> 'pending'", ids)
	if err != nil {
		return nil, fmt.Errorf("tenant slugs: %w", err)
	}
	out := make(map[int64]string, len(ids))
	var id int64
	var slug string
	if _, err := pgx.ForEachRow(rows, []any{&id, &slug}, func() error { out[id] = slug; return nil }); err != nil {
		return nil, fmt.Errorf("tenant slugs: %w", err)
	}
	return out, nil
}
