package admin

import (
	"cmp"
	"embed"
	"log/slog"
	"net/http"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the admin. A nil *Config is valid.
type Config struct {
	// Outbox, when set (development), lists the mail sent at /dev/mail.
	// It needs no sign-in: the development server listens on loopback
	// only, and the point is to read a reset link while locked out.
	Outbox *condomail.Outbox
	// PageSize is the number of tenants per page. Defaults to 50.
	PageSize int
	// Files, when set, is the tenants' file store: a tenant's page shows
	// its usage.
	Files *condofiles.Files
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the platform admin.
type Handler struct {
	reg      *condo.Registry
	store    *accounts.Store
	files    *condofiles.Files
	site     *ui.Site
	pageSize int
	logger   *slog.Logger
	handler  http.Handler
	moves    moves
}

// New returns the admin over reg and store.
func New(reg *condo.Registry, store *accounts.Store, cfg *Config) (*Handler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	h := &Handler{reg: reg, store: store, files: cfg.Files, pageSize: cmp.Or(cfg.PageSize, 50), logger: logger,
		moves: moves{running: map[string]bool{}, failed: map[string]string{}}}
	site, err := ui.NewSite(store, ui.SiteConfig{
		Name: "admin", Files: templates, Realm: accounts.RealmAdmin, Header: header,
		NotFound: "/tenants", NotFoundLabel: "All tenants",
		InternalMessage: "The request could not be completed. Please try again; the log has the details.",
		Logger:          logger,
	})
	if err != nil {
		return nil, err
	}
	h.site = site
	app := http.NewServeMux()
	site.HandleLogin(app)
	app.HandleFunc("GET /{$}", h.admin(h.dashboard))
	app.HandleFunc("GET /tenants", h.admin(h.tenants))
	app.HandleFunc("GET /tenants/new", h.admin(h.newTenant))
	app.HandleFunc("POST /tenants/new", h.admin(h.createTenant))
	app.HandleFunc("GET /tenants/{slug}", h.admin(h.tenant))
	app.HandleFunc("POST /tenants/{slug}/{action}", h.admin(h.tenantAction))
	if cfg.Outbox != nil {
		app.HandleFunc("GET /dev/mail", h.devMail(cfg.Outbox))
	}
	h.handler = site.Handler(app)
	return h, nil
}

// ServeHTTP serves the admin.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// page is one request to a signed-in admin's page.
type page struct {
	w     http.ResponseWriter
	r     *http.Request
	state *accounts.State
}

func (h *Handler) admin(fn func(p *page)) http.HandlerFunc {
	return h.site.RequireSession(func(w http.ResponseWriter, r *http.Request) {
		fn(&page{w: w, r: r, state: accounts.StateFrom(r.Context())})
	})
}

// header is the admin's page header: its links once signed in.
func header(r *http.Request, st *accounts.State, current string) *ui.View {
	v := &ui.View{Site: "Platform admin"}
	if st.Session != nil {
		v.User = st.Session.Email
		v.Nav = []ui.NavItem{
			{Label: "Overview", Href: "/", Current: current == "overview"},
			{Label: "Tenants", Href: "/tenants", Current: current == "tenants"},
			{Label: "New tenant", Href: "/tenants/new", Current: current == "new"},
		}
	}
	return v
}
