package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

// tenantRow is a tenant in the list, with its size.
type tenantRow struct {
	*condo.Tenant
	Bytes int64
	Rows  int64
}

type listData struct {
	Tenants []tenantRow
	// Filters as given.
	Q, Status, Trial, Paid string
	After, Next            string
	Today                  time.Time
	// SitePrefix and SiteSuffix surround a slug to make its site's URL.
	SitePrefix, SiteSuffix string
}

func (h *Handler) tenants(p *page) {
	q := p.r.URL.Query()
	d := listData{
		Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Trial: q.Get("trial"), Paid: q.Get("paid"),
		After: q.Get("after"), Today: time.Now().UTC().Truncate(24 * time.Hour),
	}
	d.SitePrefix, d.SiteSuffix = siteAffixes(p.r)
	if len(d.Q) > 100 {
		d.Q = d.Q[:100]
	}
	lp := condo.ListParams{Search: d.Q, After: d.After, Limit: h.pageSize}
	switch d.Status {
	case "active", "suspended", "deleted":
		lp.Status = condo.Status(d.Status)
	case "all":
		lp.AllStatuses = true
	default:
		d.Status = ""
	}
	switch d.Trial {
	case "yes", "no":
		trial := d.Trial == "yes"
		lp.OnTrial = &trial
	default:
		d.Trial = ""
	}
	if d.Paid == "expired" {
		lp.PaidBefore = &d.Today
	} else {
		d.Paid = ""
	}
	res, err := h.reg.List(p.r.Context(), lp)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	d.Next = res.Next
	sizes, err := h.sizes(p.r.Context(), res.Tenants)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	for _, t := range res.Tenants {
		s := sizes[t.Schema]
		d.Tenants = append(d.Tenants, tenantRow{Tenant: t, Bytes: s.Bytes, Rows: s.Rows})
	}
	h.site.Render(p.w, p.r, http.StatusOK, "tenants", "Tenants", "tenants", d)
}

// sizes returns each tenant schema's disk size and estimated live rows
// (Registry.Sizes: one catalog query for the page, however many tenants it
// shows; from the shards and the workers on Citus, where the coordinator's
// tables are empty placeholders).
func (h *Handler) sizes(ctx context.Context, ts []*condo.Tenant) (map[string]condo.TenantSize, error) {
	out, err := h.reg.Sizes(ctx, ts)
	if err != nil {
		return nil, fmt.Errorf("schema sizes: %w", err)
	}
	return out, nil
}

type tenantData struct {
	Tenant        *condo.Tenant
	Bytes         int64
	Hotels, Rooms int64
	CountsErr     bool
	// Files is the tenant's file usage, nil without a file store.
	Files       *condofiles.Usage
	Members     []accounts.Member
	Extend      *ui.Form
	Delete      *ui.Form
	InviteLink  string
	InviteEmail string
	PaidExpired bool
	SiteURL     string
	Move        moveState
}

func (h *Handler) tenant(p *page) {
	h.renderTenant(p, http.StatusOK, nil, nil, "", "")
}

func (h *Handler) loadTenant(p *page) *condo.Tenant {
	slug := p.r.PathValue("slug")
	t, err := h.reg.Get(p.r.Context(), slug)
	if errors.Is(err, condo.ErrTenantNotFound) {
		if len(slug) > 63 {
			slug = slug[:63] + "…"
		}
		h.site.Error(p.w, p.r, http.StatusNotFound, "Tenant not found", fmt.Sprintf("There is no tenant %q (it may have been purged).", slug))
		return nil
	}
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return nil
	}
	return t
}

func (h *Handler) renderTenant(p *page, status int, extend, del *ui.Form, link, email string) {
	t := h.loadTenant(p)
	if t == nil {
		return
	}
	ctx := p.r.Context()
	d := tenantData{Tenant: t, Extend: extend, Delete: del, InviteLink: link, InviteEmail: email, SiteURL: tenantURL(p.r, t.Slug)}
	if d.Extend == nil {
		d.Extend = ui.NewForm(nil)
		d.Extend.Set("days", "30")
	}
	if d.Delete == nil {
		d.Delete = ui.NewForm(nil)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	d.PaidExpired = t.PaidUntil == nil || t.PaidUntil.Before(today)
	sizes, err := h.sizes(ctx, []*condo.Tenant{t})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	d.Bytes = sizes[t.Schema].Bytes
	// Exact counts, read as the tenant itself.
	err = h.reg.InTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM hotel), (SELECT count(*) FROM room)").Scan(&d.Hotels, &d.Rooms)
	})
	if err != nil {
		// A tenant whose schema is half-gone still gets its page.
		h.logger.LogAttrs(ctx, slog.LevelWarn, "count tenant rows", slog.String("tenant", t.Slug), slog.String("error", err.Error()))
		d.CountsErr = true
	}
	if h.files != nil {
		u, err := h.files.TenantUsage(ctx, t)
		if err != nil {
			h.site.Internal(p.w, p.r, err)
			return
		}
		d.Files = &u
	}
	if d.Move, err = h.moveState(ctx, t); err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if d.Members, err = h.store.Members(ctx, t.ID); err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Render(p.w, p.r, status, "tenant", t.Name, "tenants", d)
}

func (h *Handler) tenantAction(p *page) {
	t := h.loadTenant(p)
	if t == nil {
		return
	}
	ctx := p.r.Context()
	back := "/tenants/" + t.Slug
	var err error
	switch p.r.PathValue("action") {
	case "suspend":
		if err = h.reg.Suspend(ctx, t.Slug); err == nil {
			h.site.Redirect(p.w, p.r, back, fmt.Sprintf("Suspended %s: its site now shows the suspended page.", t.Slug))
			return
		}
	case "resume":
		if err = h.reg.Resume(ctx, t.Slug); err == nil {
			h.site.Redirect(p.w, p.r, back, fmt.Sprintf("Resumed %s.", t.Slug))
			return
		}
	case "restore":
		if err = h.reg.Restore(ctx, t.Slug); err == nil {
			h.site.Redirect(p.w, p.r, back, fmt.Sprintf("Restored %s.", t.Slug))
			return
		}
	case "extend":
		h.extend(p, t)
		return
	case "delete":
		h.delete(p, t)
		return
	case "move":
		h.move(p, t)
		return
	default:
		h.site.Error(p.w, p.r, http.StatusNotFound, "Page not found", "There is no such action.")
		return
	}
	if errors.Is(err, condo.ErrTenantDeleted) {
		h.site.Error(p.w, p.r, http.StatusConflict, "Tenant is deleted", "Restore the tenant first.")
		return
	}
	h.site.Internal(p.w, p.r, err)
}

// extend moves paid_until by the chosen number of days from the later of
// today and the current paid_until, or to a given date.
func (h *Handler) extend(p *page, t *condo.Tenant) {
	f := ui.NewForm(p.r.PostForm)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var until time.Time
	if s := f.Get("until"); s != "" {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Year() > 9999 {
			f.Fail("until", "Enter a date like 2030-01-31.")
		}
		until = d
	} else {
		days, err := strconv.Atoi(f.Get("days"))
		if err != nil || days < 1 || days > 3660 {
			f.Fail("days", "Choose a number of days.")
		}
		from := today
		if t.PaidUntil != nil && t.PaidUntil.After(from) {
			from = *t.PaidUntil
		}
		until = from.AddDate(0, 0, days)
	}
	if !f.Valid() {
		h.renderTenant(p, http.StatusUnprocessableEntity, f, nil, "", "")
		return
	}
	up := condo.UpdateParams{PaidUntil: &until}
	if f.Get("end_trial") != "" {
		no := false
		up.OnTrial = &no
	}
	if _, err := h.reg.Update(p.r.Context(), t.Slug, up); err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Redirect(p.w, p.r, "/tenants/"+t.Slug, fmt.Sprintf("%s is paid until %s.", t.Slug, until.Format("2 Jan 2006")))
}

// delete needs the slug typed again: a deliberate act, not a slip.
func (h *Handler) delete(p *page, t *condo.Tenant) {
	f := ui.NewForm(p.r.PostForm)
	if f.Get("confirm") != t.Slug {
		f.Fail("confirm", fmt.Sprintf("Type %s exactly to confirm. Nothing was deleted.", t.Slug))
		h.renderTenant(p, http.StatusUnprocessableEntity, nil, f, "", "")
		return
	}
	purge := f.Get("purge") != ""
	if err := h.reg.Delete(p.r.Context(), t.Slug, &condo.DeleteOpts{Purge: purge}); err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	msg := fmt.Sprintf("Deleted %s. Its data is kept: it can be restored.", t.Slug)
	if purge {
		msg = fmt.Sprintf("Purged %s and all its data.", t.Slug)
	}
	h.site.Redirect(p.w, p.r, "/tenants", msg)
}

type newData struct {
	Form *ui.Form
}

func (h *Handler) newTenant(p *page) {
	f := ui.NewForm(nil)
	f.Set("trial", "on")
	f.Set("paid_until", time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly))
	h.site.Render(p.w, p.r, http.StatusOK, "tenant_new", "New tenant", "new", newData{Form: f})
}

func (h *Handler) createTenant(p *page) {
	ctx := p.r.Context()
	f := ui.NewForm(p.r.PostForm)
	slug := strings.ToLower(f.Get("slug"))
	f.Set("slug", slug)
	if err := h.reg.ValidateSlug(slug); err != nil {
		var ne *condo.NameError
		if errors.As(err, &ne) {
			f.Fail("slug", ui.Sentence("The slug", ne.Reason))
		}
	}
	if err := condo.ValidateName(f.Get("name")); err != nil {
		var ne *condo.NameError
		if errors.As(err, &ne) {
			f.Fail("name", ui.Sentence("The name", ne.Reason))
		}
	}
	var paid *time.Time
	if s := f.Get("paid_until"); s != "" {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Year() > 9999 {
			f.Fail("paid_until", "Enter a date like 2030-01-31, or nothing.")
		}
		paid = &d
	}
	owner := f.Get("owner")
	if owner != "" {
		if _, err := accounts.NormalizeEmail(owner); err != nil {
			var ie *accounts.InputError
			if errors.As(err, &ie) {
				f.Fail("owner", ie.Message)
			}
		}
	}
	if !f.Valid() {
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "tenant_new", "New tenant", "new", newData{Form: f})
		return
	}
	t, err := h.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: f.Get("name"), PaidUntil: paid, OnTrial: f.Get("trial") != ""})
	if errors.Is(err, condo.ErrTenantExists) {
		f.Fail("slug", fmt.Sprintf("%s is taken.", slug))
		h.site.Render(p.w, p.r, http.StatusUnprocessableEntity, "tenant_new", "New tenant", "new", newData{Form: f})
		return
	}
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if owner == "" {
		h.site.Redirect(p.w, p.r, "/tenants/"+t.Slug, fmt.Sprintf("Created %s.", t.Slug))
		return
	}
	tok, err := h.store.Invite(ctx, t.ID, owner, accounts.RoleOwner, 0)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	link := tenantURL(p.r, t.Slug) + "/invite/" + tok
	p.r.SetPathValue("slug", t.Slug)
	h.renderTenant(p, http.StatusCreated, nil, nil, link, owner)
}

// tenantURL is slug's site, as a sibling of the admin host.
func tenantURL(r *http.Request, slug string) string {
	pre, suf := siteAffixes(r)
	return pre + slug + suf
}

// siteAffixes returns what goes before and after a slug to make its site's
// URL: "https://" and ".example.com" on admin.example.com.
func siteAffixes(r *http.Request) (string, string) {
	scheme := "http://"
	if condohttp.IsHTTPS(r) {
		scheme = "https://"
	}
	host := strings.ToLower(r.Host)
	if _, rest, ok := strings.Cut(host, "."); ok {
		host = rest
	}
	return scheme, "." + host
}
