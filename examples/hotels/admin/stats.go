package admin

import (
	"context"
	"fmt"
	"net/http"

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
	counts, err := h.reg.Counts(ctx)
	if err != nil {
		return err
	}
	d.Active, d.Suspended, d.Deleted, d.Trial = int64(counts.Active), int64(counts.Suspended), int64(counts.Deleted), int64(counts.Trial)
	created, err := h.reg.CreatedPerWeek(ctx, weeks)
	if err != nil {
		return err
	}
	var labels []string
	var values []int64
	for _, w := range created {
		labels = append(labels, w.Week.Format("2 Jan"))
		values = append(values, w.Tenants)
	}
	d.Signups = weeklyChart("signups", "New tenants per week (last 12 weeks, by week starting)", labels, values)

	// The request counts are the application's (shared) table; the
	// registry names the tenants they belong to.
	rows, err := h.store.Pool().Query(ctx, `
		SELECT r.tenant_id, sum(r.requests)::bigint FROM public.tenant_requests r
		WHERE r.day > current_date - 7
		GROUP BY r.tenant_id ORDER BY 2 DESC, 1 LIMIT 10`)
	if err != nil {
		return fmt.Errorf("requests per tenant: %w", err)
	}
	type count struct {
		id int64
		n  int64
	}
	var top []count
	var c count
	if _, err := pgx.ForEachRow(rows, []any{&c.id, &c.n}, func() error { top = append(top, c); return nil }); err != nil {
		return fmt.Errorf("requests per tenant: %w", err)
	}
	ids := make([]int64, len(top))
	for i, c := range top {
		ids[i] = c.id
	}
	slugs, err := h.reg.Slugs(ctx, ids)
	if err != nil {
		return err
	}
	labels, values = nil, nil
	for _, c := range top {
		if slug, ok := slugs[c.id]; ok { // purged since
			labels = append(labels, slug)
			values = append(values, c.n)
		}
	}
	d.Requests = rankChart("requests", "Requests per tenant, last 7 days (top 10)", labels, values)
	return nil
}
