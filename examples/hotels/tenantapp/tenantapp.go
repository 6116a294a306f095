package tenantapp

import (
	"cmp"
	"embed"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
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
	// PageSize is the number of hotels per page. Defaults to 20.
	PageSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the tenant app.
type Handler struct {
	reg      *condo.Registry
	store    *accounts.Store
	auth     *accounts.Auth
	tmpl     *ui.Templates
	pageSize int
	logger   *slog.Logger
	mux      *http.ServeMux
}

// New returns the tenant app over reg (tenant data) and store (accounts).
func New(reg *condo.Registry, store *accounts.Store, cfg *Config) (*Handler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	tmpl, err := ui.LoadPages(templates, logger)
	if err != nil {
		return nil, fmt.Errorf("tenant app: %w", err)
	}
	h := &Handler{reg: reg, store: store, tmpl: tmpl, pageSize: cmp.Or(cfg.PageSize, 20), logger: logger}
	h.auth = accounts.NewAuth(store, &accounts.AuthConfig{Realm: accounts.RealmUser, Error: h.errorPage, Logger: logger})

	app := http.NewServeMux()
	app.HandleFunc("GET /login", h.loginForm)
	app.HandleFunc("POST /login", h.login)
	app.HandleFunc("POST /logout", h.logout)
	app.HandleFunc("GET /auth/handoff", h.handoff)
	app.HandleFunc("GET /invite/{token}", h.inviteForm)
	app.HandleFunc("POST /invite/{token}", h.acceptInvite)

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
	app.HandleFunc("GET /members", h.member(h.members))
	app.HandleFunc("POST /members/invite", h.member(h.invite))
	app.HandleFunc("GET /settings", h.member(h.settings))
	app.HandleFunc("POST /settings/directory", h.member(h.setDirectory))
	app.HandleFunc("/", h.notFound)

	h.mux = http.NewServeMux()
	h.mux.Handle("GET /static/", ui.Static())
	if cfg.API != nil {
		h.mux.Handle("GET /hotels/{$}", cfg.API)
	}
	h.mux.Handle("/", h.auth.Middleware(app))
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
	return func(w http.ResponseWriter, r *http.Request) {
		t, _ := condo.TenantFromContext(r.Context())
		st := accounts.StateFrom(r.Context())
		if st.Session == nil {
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if st.Session.Role == "" {
			h.forbidden(w, r, t, st)
			return
		}
		fn(&page{w: w, r: r, tenant: t, state: st})
	}
}

func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, t *condo.Tenant, st *accounts.State) {
	v := h.baseView(w, r, t, st, "")
	v.Nav = nil
	v.Data = ui.ErrorData{Logout: st.Session != nil}
	who := "This account"
	if st.Session != nil {
		who = st.Session.Email
	}
	h.tmpl.Error(w, r, http.StatusForbidden, v, "No access",
		fmt.Sprintf("%s has no access to %s. Ask one of its owners for an invitation, or sign in with another account.", who, t.Name))
}

func (h *Handler) baseView(w http.ResponseWriter, r *http.Request, t *condo.Tenant, st *accounts.State, current string) *ui.View {
	v := &ui.View{Site: t.Name, CSRF: st.CSRF, Flash: ui.TakeFlash(w, r)}
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

func (p *page) view(h *Handler, title, current string, data any) *ui.View {
	v := h.baseView(p.w, p.r, p.tenant, p.state, current)
	v.Title, v.Data = title, data
	return v
}

func (p *page) render(h *Handler, status int, name, title, current string, data any) {
	h.tmpl.Render(p.w, p.r, status, name, p.view(h, title, current, data))
}

// redirect sends the browser on after a change, with a message for the
// next page.
func (p *page) redirect(target, flash string) {
	if flash != "" {
		ui.SetFlash(p.w, p.r, p.state.Secure, flash)
	}
	http.Redirect(p.w, p.r, target, http.StatusSeeOther)
}

// fail answers a database or other internal error: logged here, and a
// generic page for the user.
func (p *page) fail(h *Handler, err error) {
	h.internal(p.w, p.r, err)
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	code := condohttp.ErrorStatusCode(err)
	if code < 500 {
		code = http.StatusInternalServerError
	}
	ui.LogError(r, h.logger, "tenant app", err)
	h.errorPage(w, r, code, "Something went wrong", "The request could not be completed. Nothing was changed. Please try again.")
}

// errorPage renders an error with the tenant's layout (also for the
// accounts middleware: refused forms).
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	t, _ := condo.TenantFromContext(r.Context())
	st := accounts.StateFrom(r.Context())
	v := h.baseView(w, r, t, st, "")
	if status == http.StatusNotFound {
		v.Data = ui.ErrorData{Link: "/", LinkLabel: "Back to the hotels"}
	}
	h.tmpl.Error(w, r, status, v, title, message)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
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
	h.errorPage(p.w, p.r, http.StatusNotFound, strings.ToUpper(what[:1])+what[1:]+" not found",
		fmt.Sprintf("There is no %s #%s in %s. It may have been deleted, or the link belongs to another workspace. Nothing was changed.", what, id, p.tenant.Name))
}
