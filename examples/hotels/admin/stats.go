package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bar is one bar of a chart, laid out in the chart's coordinates.
type Bar struct {
	Label string
	Value int64
	// X, Y, W, H place the bar; LX, LY its label; VX, VY its value.
	X, Y, W, H     float64
	LX, LY, VX, VY float64
}

// Chart is a bar chart drawn as inline SVG by the templates.
type Chart struct {
	ID, Title     string
	Width, Height float64
	Bars          []Bar
	// Horizontal charts have a label column on the left.
	Horizontal bool
	Empty      bool
}

// weeklyChart lays out vertical bars, one per week, oldest first.
func weeklyChart(id, title string, labels []string, values []int64) Chart {
	const w, h, top, bottom, gap = 640.0, 200.0, 18.0, 22.0, 6.0
	c := Chart{ID: id, Title: title, Width: w, Height: h, Empty: true}
	var peak int64 = 1
	for _, v := range values {
		peak = max(peak, v)
		if v > 0 {
			c.Empty = false
		}
	}
	slot := w / float64(len(values))
	for i, v := range values {
		bh := (h - top - bottom) * float64(v) / float64(peak)
		x := float64(i)*slot + gap/2
		c.Bars = append(c.Bars, Bar{
			Label: labels[i], Value: v,
			X: round(x), W: round(slot - gap), Y: round(h - bottom - bh), H: round(bh),
			LX: round(x + (slot-gap)/2), LY: h - 6,
			VX: round(x + (slot-gap)/2), VY: round(h - bottom - bh - 4),
		})
	}
	return c
}

// rankChart lays out horizontal bars, largest first.
func rankChart(id, title string, labels []string, values []int64) Chart {
	const w, row, left, right = 640.0, 24.0, 140.0, 70.0
	c := Chart{ID: id, Title: title, Width: w, Height: row * float64(max(len(values), 1)), Horizontal: true, Empty: len(values) == 0}
	var peak int64 = 1
	for _, v := range values {
		peak = max(peak, v)
	}
	for i, v := range values {
		bw := (w - left - right) * float64(v) / float64(peak)
		y := float64(i) * row
		c.Bars = append(c.Bars, Bar{
			Label: labels[i], Value: v,
			X: left, Y: y + 3, W: round(max(bw, 1)), H: row - 6,
			LX: left - 8, LY: y + row/2 + 4,
			VX: round(left + bw + 6), VY: y + row/2 + 4,
		})
	}
	return c
}

func round(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

type dashboardData struct {
	Active, Suspended, Deleted, Trial int64
	Signups, Requests                 Chart
}

func (h *Handler) dashboard(p *page) {
	ctx := p.r.Context()
	var d dashboardData
	err := h.loadStats(ctx, &d)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Render(p.w, p.r, http.StatusOK, "dashboard", "Overview", "overview", d)
}

// weeks is how many weeks the signup chart shows.
const weeks = 12

func (h *Handler) loadStats(ctx context.Context, d *dashboardData) error {
	pool := h.reg.Pool()
	err := pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'active'),
			count(*) FILTER (WHERE status = 'suspended'),
			count(*) FILTER (WHERE status = 'deleted'),
			count(*) FILTER (WHERE on_trial AND status <> 'deleted')
		FROM public.condo_tenants`).Scan(&d.Active, &d.Suspended, &d.Deleted, &d.Trial)
	if err != nil {
		return fmt.Errorf("count tenants: %w", err)
	}
	rows, err := pool.Query(ctx, `
		SELECT w::date, count(t.id)
		FROM generate_series(date_trunc('week', current_date) - $1 * interval '1 week', date_trunc('week', current_date), interval '1 week') AS w
		LEFT JOIN public.condo_tenants t ON date_trunc('week', t.created_on) = w
		GROUP BY w ORDER BY w`, weeks-1)
	if err != nil {
		return fmt.Errorf("signups per week: %w", err)
	}
	var labels []string
	var values []int64
	var week time.Time
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&week, &n}, func() error {
		labels = append(labels, week.Format("2 Jan"))
		values = append(values, n)
		return nil
	}); err != nil {
		return fmt.Errorf("signups per week: %w", err)
	}
	d.Signups = weeklyChart("signups", "New tenants per week (last 12 weeks, by week starting)", labels, values)

	rows, err = pool.Query(ctx, `
		SELECT t.slug, sum(r.requests)::bigint FROM public.tenant_requests r
		JOIN public.condo_tenants t ON t.id = r.tenant_id
		WHERE r.day > current_date - 7
		GROUP BY t.slug ORDER BY 2 DESC, 1 LIMIT 10`)
	if err != nil {
		return fmt.Errorf("requests per tenant: %w", err)
	}
	labels, values = nil, nil
	var slug string
	if _, err := pgx.ForEachRow(rows, []any{&slug, &n}, func() error {
		labels = append(labels, slug)
		values = append(values, n)
		return nil
	}); err != nil {
		return fmt.Errorf("requests per tenant: %w", err)
	}
	d.Requests = rankChart("requests", "Requests per tenant, last 7 days (top 10)", labels, values)
	return nil
}
