package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

// moves are the moves between tiers this admin started: they run in the
// background (a move copies the tenant's rows, minutes for a large one),
// and the tenant's page shows the registry's record of each one's phase.
// The registry itself refuses a second move of a tenant, from any
// instance; this map answers a second click on this one at once and keeps
// the last failure to show.
type moves struct {
	mu      sync.Mutex
	running map[string]bool   // slug → a move started here runs
	failed  map[string]string // slug → why the last one failed
}

// moveTarget is one choice of the move form.
type moveTarget struct {
	Value, Label string
}

// moveTargets lists where t may move: the schema tier, and a database on
// each server, less where it is.
func (h *Handler) moveTargets(t *condo.Tenant) []moveTarget {
	var out []moveTarget
	if t.Tier != condo.TierSchema {
		out = append(out, moveTarget{"schema", "Schema tier (shared database)"})
	}
	for _, s := range h.reg.Servers() {
		if t.Tier == condo.TierDatabase && (t.Server == s || t.Server == "" && s == condo.MainServer) {
			continue
		}
		out = append(out, moveTarget{"database:" + s, "Own database on server " + s})
	}
	return out
}

// move starts a move of t in the background and redirects to its page,
// which shows the phase.
func (h *Handler) move(p *page, t *condo.Tenant) {
	to := ui.NewForm(p.r.PostForm).Get("to")
	tier, server, _ := strings.Cut(to, ":")
	valid := false
	for _, mt := range h.moveTargets(t) {
		valid = valid || mt.Value == to
	}
	if !valid {
		h.site.Error(p.w, p.r, http.StatusBadRequest, "Cannot move there", fmt.Sprintf("%q is not a place %s can move to.", to, t.Slug))
		return
	}
	back := "/tenants/" + t.Slug
	if m, err := h.reg.MoveOf(p.r.Context(), t.Slug); err == nil && m.Phase != condo.MoveSwitched {
		h.site.Redirect(p.w, p.r, back, fmt.Sprintf("%s is moving already (phase %s).", t.Slug, m.Phase))
		return
	}
	h.moves.mu.Lock()
	if h.moves.running[t.Slug] {
		h.moves.mu.Unlock()
		h.site.Redirect(p.w, p.r, back, fmt.Sprintf("%s is moving already.", t.Slug))
		return
	}
	h.moves.running[t.Slug] = true
	delete(h.moves.failed, t.Slug)
	h.moves.mu.Unlock()
	// Not the request's context: the move outlives the request. A move
	// cut short by a shutdown is recorded; `tenants move --resume`
	// continues it.
	ctx := context.WithoutCancel(p.r.Context())
	go func() {
		_, err := h.reg.MoveTier(ctx, t.Slug, condo.Tier(tier), server, nil)
		h.moves.mu.Lock()
		delete(h.moves.running, t.Slug)
		if err != nil {
			msg := "The move failed; the log has the details."
			if errors.Is(err, condo.ErrMoveInProgress) {
				msg = "Another move of this tenant is in progress."
			}
			h.moves.failed[t.Slug] = msg
		}
		h.moves.mu.Unlock()
		if err != nil {
			h.logger.LogAttrs(ctx, slog.LevelError, "tier move", slog.String("tenant", t.Slug), slog.String("error", err.Error()))
		}
	}()
	h.site.Redirect(p.w, p.r, back, fmt.Sprintf("Moving %s to %s: the page shows its phase.", t.Slug, to))
}

// moveState is what the tenant's page shows of its moves.
type moveState struct {
	Move    *condo.TierMove // the registry's record; nil: none
	Running bool            // started here and not finished
	Failed  string
	Targets []moveTarget
}

func (h *Handler) moveState(ctx context.Context, t *condo.Tenant) (moveState, error) {
	st := moveState{Targets: h.moveTargets(t)}
	m, err := h.reg.MoveOf(ctx, t.Slug)
	switch {
	case err == nil:
		st.Move = m
	case !errors.Is(err, condo.ErrNoMove):
		return st, err
	}
	h.moves.mu.Lock()
	st.Running, st.Failed = h.moves.running[t.Slug], h.moves.failed[t.Slug]
	h.moves.mu.Unlock()
	return st, nil
}
