package condo

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the PostgreSQL channel on which every registry change is
// announced (in the changing transaction, so only committed changes are
// heard). The payload is a JSON [Change]. Only the registry sends on it
// (every change goes through [encodeChange]); only the [Resolver] listens.
const NotifyChannel = "condo_registry"

// Change is the payload of a registry notification.
type Change struct {
	Op      string   `json:"op"` // create, update, suspend, resume, rename, delete, purge, domain, move
	ID      int64    `json:"id"`
	Slug    string   `json:"slug"`
	OldSlug string   `json:"old_slug,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	// Server and Database are a moved tenant's new place (op move; both
	// empty for the schema tier).
	Server   string `json:"server,omitempty"`
	Database string `json:"database,omitempty"`
}

// encodeChange is the one encoder of the payload: the resolver's decoder
// (Resolver.apply) reads what it writes.
func encodeChange(c Change) string {
	b, err := json.Marshal(c)
	if err != nil {
		// A struct of strings and an int always marshals.
		panic("condo: encode registry change: " + err.Error())
	}
	return string(b)
}

// notifySQL returns a pg_notify statement for c, to be sent with other
// statements in one round trip. The payload is JSON whose strings are
// validated slugs and hosts; it is passed as a literal.
func notifySQL(c Change) string {
	return "SELECT pg_notify(" + quoteLiteral(NotifyChannel) + ", " + quoteLiteral(encodeChange(c)) + ");\n"
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// notify announces c in tx: it is heard when tx commits, not before.
func notify(ctx context.Context, tx pgx.Tx, c Change) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, encodeChange(c))
	return err
}
