package pgcluster

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// DatabaseParams says what [CreateDatabase] makes.
type DatabaseParams struct {
	// Name is the database's name.
	Name string
	// Owner is the login role that owns the database and its public
	// schema: not a superuser, with CREATEROLE (it creates the tenants'
	// roles), as an application's role is in production. It is created
	// when missing. Defaults to Name.
	Owner string
	// Template is the database to copy. Defaults to template0.
	Template string
	// TemplateOwner is the role that owns the objects inside Template
	// (the one that migrated it): in the copy they are handed to Owner,
	// as if Owner had migrated the copy itself.
	TemplateOwner string
	// Setup, when set, runs last, connected to the new database as the
	// superuser: e.g. condo.Harden, which only a superuser may run.
	Setup func(ctx context.Context, conn *pgx.Conn) error
}

// CreateDatabase makes p.Owner (when missing) and database p.Name (when
// missing) on the server adminURL connects to as a superuser, hands the
// public schema to the owner and runs p.Setup. It is the one way tests,
// the benchmark and the reference app's dev command make a database, so
// that all three run on a database shaped as production's is.
//
// With a TemplateOwner, the copy's objects that role owned (the public
// schema, migrated tables) are handed to p.Owner with REASSIGN OWNED,
// which also moves that role's databases: so the template itself must be
// owned by a superuser (see [OwnTemplate]).
func CreateDatabase(ctx context.Context, adminURL string, p DatabaseParams) error {
	owner := cmp.Or(p.Owner, p.Name)
	tmpl := cmp.Or(p.Template, "template0")
	for _, n := range []string{p.Name, owner, tmpl, cmp.Or(p.TemplateOwner, owner)} {
		if err := pgident.ValidateGiven("database or role", n); err != nil {
			return err
		}
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var roleExists, dbExists bool
	err = admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1),
		EXISTS (SELECT FROM pg_database WHERE datname = $2)`,
		owner, p.Name).Scan(&roleExists, &dbExists)
	if err != nil {
		return fmt.Errorf("look up %s: %w", p.Name, err)
	}
	if !roleExists {
		if _, err := admin.Exec(ctx, "CREATE ROLE "+pgident.Quote(owner)+" LOGIN CREATEROLE"); err != nil {
			return fmt.Errorf("create role %s: %w", owner, err)
		}
	}
	if !dbExists {
		q := "CREATE DATABASE " + pgident.Quote(p.Name) + " OWNER " + pgident.Quote(owner) + " TEMPLATE " + pgident.Quote(tmpl)
		if _, err := admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("create database %s: %w", p.Name, err)
		}
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return err
	}
	cfg.Database = p.Name
	db, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", p.Name, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	// A template's tables belong to the role that migrated it; in the
	// copy they are the new owner's, as if it had migrated them itself.
	if p.TemplateOwner != "" && p.TemplateOwner != owner && !dbExists {
		if _, err := db.Exec(ctx, "REASSIGN OWNED BY "+pgident.Quote(p.TemplateOwner)+" TO "+pgident.Quote(owner)); err != nil {
			return fmt.Errorf("hand %s's objects to %s: %w", p.TemplateOwner, owner, err)
		}
	}
	if _, err := db.Exec(ctx, "ALTER SCHEMA public OWNER TO "+pgident.Quote(owner)); err != nil {
		return fmt.Errorf("hand the public schema to %s: %w", owner, err)
	}
	if p.Setup != nil {
		return p.Setup(ctx, db)
	}
	return nil
}

// OwnTemplate hands database name to the superuser and marks it a
// template, so that [CreateDatabase] may copy it for another owner: the
// role that migrated it keeps owning what is inside.
func OwnTemplate(ctx context.Context, adminURL, name string) error {
	if err := pgident.ValidateGiven("database", name); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgident.Quote(name)+" OWNER TO CURRENT_USER"); err != nil {
		return fmt.Errorf("own template %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgident.Quote(name)+" WITH IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("mark template %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name (closing its connections), the
// databases named name + "_…" (condo's database-tier tenants), and the
// roles named name or starting with name + "_": its owner, made by
// [CreateDatabase] with the default Owner, and the roles that owner made
// (tenant roles are named after it), the owner last.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	if err := pgident.ValidateGiven("database", name); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	// A template can't be dropped.
	var isTemplate bool
	err = admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&isTemplate)
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if isTemplate {
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgident.Quote(name)+" WITH IS_TEMPLATE false"); err != nil {
			return fmt.Errorf("unmark template %s: %w", name, err)
		}
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgident.Quote(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	// Databases named after it (condo's database tier: <owner>_tenant_<id>)
	// go first: their owner and the roles granted CONNECT on them can't be
	// dropped while they exist.
	dbRows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1 || '_')`, name)
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	dbs, err := pgx.CollectRows(dbRows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	for _, db := range dbs {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgident.Quote(db)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", db, err)
		}
	}
	rows, err := admin.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolname = $1 OR starts_with(rolname, $1 || '_')
		ORDER BY rolname = $1`, name)
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	// Chunks: a benchmark may leave ten thousand tenant roles behind.
	for chunk := range slices.Chunk(roles, 500) {
		quoted := make([]string, len(chunk))
		for i, r := range chunk {
			quoted[i] = pgident.Quote(r)
		}
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+strings.Join(quoted, ", ")); err != nil {
			return fmt.Errorf("drop roles: %w", err)
		}
	}
	return nil
}
