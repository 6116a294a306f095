package tenantapp

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/web"
)

type settingsData struct {
	// Directory reports whether the hotel list is public (GET /hotels/).
	Directory bool
	// CanChange: only owners switch the directory.
	CanChange bool
}

func (h *Handler) settings(p *page) {
	var on bool
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		on, err = web.DirectoryTx(ctx, tx)
		return err
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	h.site.Render(p.w, p.r, http.StatusOK, "settings", "Settings", "settings", settingsData{Directory: on, CanChange: p.state.Session.Role == accounts.RoleOwner})
}

// setDirectory publishes or withdraws the public hotel list: the owner's
// decision, since it shows the tenant's data to anyone.
func (h *Handler) setDirectory(p *page) {
	if p.state.Session.Role != accounts.RoleOwner {
		h.site.Error(p.w, p.r, http.StatusForbidden, "Not allowed", "Only owners can publish or withdraw the hotel list.")
		return
	}
	var on bool
	switch p.r.PostForm.Get("directory") {
	case "on":
		on = true
	case "off":
	default:
		h.site.Error(p.w, p.r, http.StatusBadRequest, "Bad request", "Choose on or off. Nothing was changed.")
		return
	}
	err := h.reg.InTenantTx(p.r.Context(), func(ctx context.Context, tx pgx.Tx) error {
		return web.SetDirectoryTx(ctx, tx, on)
	})
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	msg := "The hotel list is private again."
	if on {
		msg = "The hotel list is now public at /hotels/."
	}
	h.site.Redirect(p.w, p.r, "/settings", msg)
}
