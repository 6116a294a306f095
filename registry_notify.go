package condo

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the PostgreSQL channel on which every registry change is
// announced (in the changing transaction, so only committed changes are
// heard). The payload is a JSON [Change].
const NotifyChannel = "condo_registry"

// Change is the payload of a registry notification.
type Change struct {
	Op      string   `json:"op"` // create, update, suspend, resume, rename, delete, purge, domain
	ID      int64    `json:"id"`
	Slug    string   `json:"slug"`
	OldSlug string   `json:"old_slug,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
}

// notifySQL returns a pg_notify statement for c. The payload is JSON whose
// strings are validated slugs and hosts; it is passed as a literal.
func notifySQL(c Change) string {
	b, _ := json.Marshal(c)
	return "SELECT pg_notify('" + NotifyChannel + "', " + quoteLiteral(string(b)) + ");\n"
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func notify(ctx context.Context, tx pgx.Tx, c Change) error {
	b, _ := json.Marshal(c)
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, string(b))
	return err
}
