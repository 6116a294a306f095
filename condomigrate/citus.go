package condomigrate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// citusOwnerSetUp is the one-time set-up of the owner role in a database
// of a Citus cluster. When the owner first makes a table in a distributed
// schema inside a transaction block (every tenant creation does), Citus
// makes sure the owner role exists on the workers with
// worker_create_or_alter_role(…, 'ALTER ROLE owner NOSUPERUSER …'),
// sent as the owner itself, and PostgreSQL lets only a superuser name the
// SUPERUSER attribute: "must be superuser to alter superuser roles". Done
// once outside a transaction block, Citus propagates the role over its
// own connection and records it as distributed (pg_dist_object), and
// never sends that command again in this database. The schema and table
// are dropped at once.
var citusOwnerSetUp = []string{
	"CREATE SCHEMA condo_citus_setup",
	"CREATE TABLE condo_citus_setup.setup ()",
	"DROP SCHEMA condo_citus_setup CASCADE",
}

// CitusOwnerSetUpSQL returns the statements of the one-time set-up that
// [Migrator.MigrateShared] runs on Citus (see README, "Scaling out"), for
// operators who migrate otherwise. Each must run on its own, outside a
// transaction block, as the owner role, on the coordinator.
func CitusOwnerSetUpSQL() []string { return append([]string(nil), citusOwnerSetUp...) }

// prepareCitus does the owner's one-time set-up when the database has the
// citus extension and the current role is not yet known to Citus as
// distributed. conn must not be in a transaction block.
func prepareCitus(ctx context.Context, conn *pgx.Conn) error {
	var done bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object
		WHERE classid = 'pg_catalog.pg_authid'::regclass
		  AND objid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))`).Scan(&done)
	if err != nil {
		return fmt.Errorf("citus: read pg_dist_object: %w", err)
	}
	if done {
		return nil
	}
	for _, s := range citusOwnerSetUp {
		if _, err := conn.Exec(ctx, s, pgx.QueryExecModeExec); err != nil {
			// Leave nothing behind if the table failed.
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS condo_citus_setup CASCADE", pgx.QueryExecModeExec)
			return fmt.Errorf("citus owner set-up: %s: %w", s, err)
		}
	}
	return nil
}

// citusVersion returns the citus extension's version in the database, or ""
// when it is not installed.
func citusVersion(ctx context.Context, conn *pgx.Conn) (string, error) {
	var v string
	err := conn.QueryRow(ctx, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("detect citus: %w", err)
	}
	return v, nil
}

// Citus refuses a foreign key from a tenant table to a shared table that is
// not a reference table with one of two errors, depending on which of its
// checks meets it first; only the second names the shared table's schema,
// in its detail, which error strings leave out.
//
// They are matched by message text, against the rule elsewhere of matching
// SQLSTATEs only: their codes are generic (42P16 invalid_table_definition,
// XX000 internal_error) and Citus ships no translations, so its messages
// do not follow lc_messages. A message Citus rewords only loses the hint.
var (
	citusRefRE    = regexp.MustCompile(`^referenced table "([^"]+)" must be a distributed table or a reference table`)
	citusSchemaRE = regexp.MustCompile(`^"[^"]+" references "([^"]+)" via foreign key constraint`)
)

// explainCitus adds what to do to a tenant migration's error when it is
// Citus's refusal of a foreign key to a shared table.
func explainCitus(err error) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return err
	}
	table := ""
	if m := citusRefRE.FindStringSubmatch(pg.Message); m != nil {
		table = m[1]
	} else if strings.HasPrefix(pg.Message, "foreign keys from distributed schemas") {
		if m := citusSchemaRE.FindStringSubmatch(pg.Detail); m != nil {
			table = m[1]
		}
	}
	if table == "" {
		return err
	}
	return fmt.Errorf("a tenant table references shared table %s, which on Citus must be a reference table: "+
		"make it one in a shared migration (SELECT create_reference_table('%s'), see the README's \"Scaling out\"): %w",
		table, table, err)
}
