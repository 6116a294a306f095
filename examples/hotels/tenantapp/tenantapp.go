package tenantapp

import (
	"cmp"
	"embed"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the tenant app. A nil *Config is valid.
type Config struct {
	// API, when set, serves GET /hotels/ (the JSON directory of package
	// web), outside sessions: a read-only catalogue, public only when the
	// tenant's owner published it (the Settings page).
	API http.Handler
	// Files, when set, stores hotel photos (uploaded on the hotel's page)
	// and serves them at /files/ by short-lived signed URLs. Nil: no
	// photos.
	Files *condofiles.Files
	// Jobs, when set with Files, makes photo thumbnails by job (package
	// thumbs); without it the page shows the photo itself.
	Jobs *condojobs.Client
	// Mail, when set, sends password resets and invitations by mail.
	// Nil: no mail; invitation links are shown on screen only.
	Mail *condomail.Mailer
	// ShowInviteLinks shows a new invitation's link on screen even when
	// it is mailed (development). Without Mail it is always shown.
	ShowInviteLinks bool
	// PageSize is the number of hotels per page. Defaults to 20.
	PageSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the tenant app.
type Handler struct {
	reg      *condo.Registry
	store    *accounts.Store
	files    *condofiles.Files
	site     *ui.Site
	pageSize int
	mail     *condomail.Mailer
	jobs     *condojobs.Client
	showLink bool
	logger   *slog.Logger
	mux      *http.ServeMux
}

// New returns the tenant app over reg (tenant data) and store (accounts).
func New(reg *condo.Registry, store *accounts.Store, cfg *Config) (*Handler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	h := &Handler{reg: reg, store: store, files: cfg.Files, pageSize: cmp.Or(cfg.PageSize, 20), logger: logger,
		mail: cfg.Mail, jobs: cfg.Jobs, showLink: cfg.Mail == nil || cfg.ShowInviteLinks}
	site, err := ui.NewSite(store, ui.SiteConfig{
		Name: "tenant app", Files: templates, Header: header,
		NotFound: "/", NotFoundLabel: "Back to the hotels",
		InternalMessage: "The request could not be completed. Nothing was changed. Please try again.",
		SignIn:          h.signIn,
		// Signed in here means a member: a signed-in account without a
		// membership may still sign in as another.
		SignedIn: func(st *accounts.State) bool { return st.Session != nil && st.Session.Role != "" },
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	h.site = site

	app := http.NewServeMux()
	site.HandleLogin(app)
	app.HandleFunc("GET /auth/handoff", h.handoff)
	app.HandleFunc("GET /invite/{token}", h.inviteForm)
	app.HandleFunc("POST /invite/{token}", h.acceptInvite)
	app.HandleFunc("GET /password/forgot", h.forgotForm)
	app.HandleFunc("POST /password/forgot", h.forgot)
	app.HandleFunc("GET /password/reset/{token}", h.resetForm)
	app.HandleFunc("POST /password/reset/{token}", h.reset)
	app.HandleFunc("GET /verify/{token}", h.verify)

	app.HandleFunc("GET /{$}", h.member(h.listHotels))
	app.HandleFunc("GET /hotels/new", h.member(h.newHotel))
	app.HandleFunc("POST /hotels/new", h.member(h.createHotel))
	app.HandleFunc("GET /hotels/{id}", h.member(h.showHotel))
	app.HandleFunc("GET /hotels/{id}/edit", h.member(h.editHotel))
	app.HandleFunc("POST /hotels/{id}/edit", h.member(h.updateHotel))
	app.HandleFunc("GET /hotels/{id}/delete", h.member(h.confirmDeleteHotel))
	app.HandleFunc("POST /hotels/{id}/delete", h.member(h.deleteHotel))
	app.HandleFunc("GET /hotels/{id}/rooms/new", h.member(h.newRoom))
	app.HandleFunc("POST /hotels/{id}/rooms/new", h.member(h.createRoom))
	app.HandleFunc("GET /hotels/{id}/rooms/{room}/edit", h.member(h.editRoom))
	app.HandleFunc("POST /hotels/{id}/rooms/{room}/edit", h.member(h.updateRoom))
	app.HandleFunc("GET /hotels/{id}/rooms/{room}/delete", h.member(h.confirmDeleteRoom))
	app.HandleFunc("POST /hotels/{id}/rooms/{room}/delete", h.member(h.deleteRoom))
	if h.files != nil {
		app.HandleFunc("POST /hotels/{id}/photo", h.member(h.uploadPhoto))
	}
	app.HandleFunc("GET /members", h.member(h.members))
	app.HandleFunc("POST /members/invite", h.member(h.invite))
	app.HandleFunc("GET /settings", h.member(h.settings))
	app.HandleFunc("POST /settings/directory", h.member(h.setDirectory))

	h.mux = site.Handler(app)
	if cfg.API != nil {
		h.mux.Handle("GET /hotels/{$}", cfg.API)
	}
	if h.files != nil {
		// Outside sessions: the URL's signature (this tenant, this key,
		// for a few minutes) is the permission, as for an S3 presigned
		// URL.
		h.mux.Handle("GET /files/", h.files.Handler())
	}
	return h, nil
}

// ServeHTTP serves the tenant app. The request context must carry the
// tenant ([condo.WithTenant]); without one the answer is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := condo.TenantFromContext(r.Context()); !ok {
		http.NotFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// page is one request to a member-only page.
type page struct {
	w      http.ResponseWriter
	r      *http.Request
	tenant *condo.Tenant
	state  *accounts.State
}

// member wraps a page that needs a member of this tenant.
func (h *Handler) member(fn func(p *page)) http.HandlerFunc {
	return h.site.RequireSession(func(w http.ResponseWriter, r *http.Request) {
		t, _ := condo.TenantFromContext(r.Context())
		st := accounts.StateFrom(r.Context())
		if st.Session.Role == "" {
			h.forbidden(w, r, t, st)
			return
		}
		fn(&page{w: w, r: r, tenant: t, state: st})
	})
}

// signIn lets members of this tenant sign in, into it; anyone else with
// the right password gets the no-access page and no session.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, u *accounts.User) (int64, bool, error) {
	t, _ := condo.TenantFromContext(r.Context())
	role, err := h.store.Role(r.Context(), u.ID, t.ID)
	if err != nil {
		return 0, false, err
	}
	if role == "" {
		st := accounts.StateFrom(r.Context())
		h.forbidden(w, r, t, &accounts.State{CSRF: st.CSRF, Session: &accounts.Session{Email: u.Email}})
		return 0, false, nil
	}
	return t.ID, true, nil
}

func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, t *condo.Tenant, st *accounts.State) {
	v := header(r, st, "")
	v.CSRF, v.Flash = st.CSRF, ui.TakeFlash(w, r)
	v.Nav = nil
	v.Data = ui.ErrorData{Logout: st.Session != nil}
	who := "This account"
	if st.Session != nil {
		who = st.Session.Email
	}
	h.site.Pages.Error(w, r, http.StatusForbidden, v, "No access",
		fmt.Sprintf("%s has no access to %s. Ask one of its owners for an invitation, or sign in with another account.", who, t.Name))
}

// header is the tenant app's page header: the tenant's name, and for its
// members the app's links.
func header(r *http.Request, st *accounts.State, current string) *ui.View {
	t, _ := condo.TenantFromContext(r.Context())
	v := &ui.View{Site: t.Name}
	if st.Session != nil {
		v.User = st.Session.Email
		if st.Session.Role != "" {
			v.Nav = []ui.NavItem{
				{Label: "Hotels", Href: "/", Current: current == "hotels"},
				{Label: "Members", Href: "/members", Current: current == "members"},
				{Label: "Settings", Href: "/settings", Current: current == "settings"},
			}
		}
	}
	return v
}

// pathID parses a positive id from the path; ok is false (and a 404 sent)
// otherwise.
func (p *page) pathID(h *Handler, name, what string) (int64, bool) {
	s := p.r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		p.notFound(h, what, s)
		return 0, false
	}
	return id, true
}

func (p *page) notFound(h *Handler, what, id string) {
	if len(id) > 20 {
		id = id[:20] + "…"
	}
	h.site.Error(p.w, p.r, http.StatusNotFound, strings.ToUpper(what[:1])+what[1:]+" not found",
		fmt.Sprintf("There is no %s #%s in %s. It may have been deleted, or the link belongs to another workspace. Nothing was changed.", what, id, p.tenant.Name))
}
