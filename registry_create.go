package condo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
)

// CreateParams describes a new tenant.
type CreateParams struct {
	Slug string
	Name string
	// Domains are custom hosts; the first is the primary one. They are
	// created verified: use [Registry.AddDomain] with Unverified for
	// self-service domains.
	Domains   []string
	PaidUntil *time.Time
	OnTrial   bool
	// OnCreated runs after the registry's own OnTenantCreated hook, in the
	// same transaction.
	OnCreated OnTenantCreatedFunc
	// Tier is where the tenant's data lives. Defaults to [TierSchema].
	Tier Tier
	// Server names the server of a [TierDatabase] tenant's database, one
	// of [RegistryConfig].Servers. Defaults to [MainServer], the
	// registry's own.
	Server string
	// version, when non-zero, stops migrations at that version (import);
	// -1 applies none.
	version int64
	// skipHooks leaves out the registry's OnTenantCreated (import: the
	// data comes from the file, not from seeding).
	skipHooks bool
	// pending makes a pending tenant (createPending): its throwaway slug
	// is never committed and it has no hosts, so it sends no "create"
	// notification (the resolver would have nothing to evict; the claim
	// sends one with the real slug and hosts) and logs "pending tenant
	// made" rather than "tenant created".
	pending bool
}

// Create makes a tenant: registry row, domains, schema, role, grants and all
// tenant migrations, then the creation hooks, in one transaction. Either all
// of it commits or none of it does. When a pending tenant at the latest
// tenant migration version exists ([PendingPool]), Create claims it
// instead: the same tenant, hooks and notification, without the DDL.
// When the role reserve holds a role ([Registry.ReserveRoles],
// [RoleReserve]), a schema-tier creation takes it and its id instead of
// making a role: it then commits no change to pg_authid or
// pg_auth_members, which would make every backend of every runtime role
// recompute its memberships (README, "Tenant roles at scale").
//
// With p.Tier [TierDatabase] it makes a login role with a generated
// password (sealed in the registry) and a database of the tenant's own,
// holding the same schema (see createDatabase for the order of the steps,
// which can't be one transaction). Returns [ErrNoSecretKey] without the
// registry's secret key, [ErrUnknownServer] for a server not configured,
// and [ErrTierUnsupported] on a Citus coordinator.
//
// Returns a [*NameError] for a bad slug, name or host, [ErrTenantExists] if
// the slug is taken, [ErrDomainTaken] if a host belongs to another tenant,
// and a *condomigrate.MigrateError if a migration fails.
func (r *Registry) Create(ctx context.Context, p CreateParams) (*Tenant, error) {
	if err := r.ValidateSlug(p.Slug); err != nil {
		return nil, err
	}
	if err := ValidateName(p.Name); err != nil {
		return nil, err
	}
	hosts, err := normalizeHosts(p.Domains)
	if err != nil {
		return nil, err
	}
	switch p.Tier {
	case "", TierSchema:
		if p.Server != "" && p.Server != MainServer {
			return nil, fmt.Errorf("create tenant %q: a schema-tier tenant lives on the registry's server, not %q", p.Slug, p.Server)
		}
	case TierDatabase:
		t, err := r.createDatabase(ctx, p, hosts)
		if err != nil {
			return nil, fmt.Errorf("create tenant %q: %w", p.Slug, err)
		}
		return t, nil
	default:
		return nil, fmt.Errorf("create tenant %q: unknown tier %q", p.Slug, p.Tier)
	}
	// A ready-made tenant, when there is one, is claimed in one short
	// transaction instead (registry_pending.go); else the full path.
	if p.version == 0 && !p.skipHooks {
		if t, err := r.claimPending(ctx, p, hosts); !errors.Is(err, errNoPending) {
			return t, err
		}
	}
	var t *Tenant
	var fromReserve bool
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		prefix, err := r.prefix(ctx, tx)
		if err != nil {
			return err
		}
		t = &Tenant{Slug: p.Slug, Name: p.Name, Status: StatusActive, PaidUntil: p.PaidUntil, OnTrial: p.OnTrial, Tier: TierSchema}
		// The row is written with the version the migrations below reach
		// (checked after them): the whole creation is one transaction, so
		// it is never seen otherwise, and recording it costs no round trip.
		// The runtime roles to grant the new role to come back with the
		// registry row: no round trip of their own on every creation.
		// On Citus the owner makes the tenant role even with provisioning
		// roles ([Provision]): Citus runs a statement on the workers over
		// a connection of the current role, so a role made by the
		// provisioning function (SECURITY DEFINER) would exist on the
		// workers only in that role's connections until the commit, and
		// the owner's GRANT … ON SCHEMA to it fails there ("role does not
		// exist"). So on Citus over PostgreSQL 16+ creation keeps the
		// cost of one creating role (README, "Tenant roles at scale");
		// on 15 (the tests' Citus) a creator's cost does not grow.
		target := r.createVersion(p.version)
		citus, err := r.citusVersion(ctx, tx)
		if err != nil {
			return err
		}
		// A reserved role ([Registry.ReserveRoles]), when there is one,
		// gives the tenant its id and role: the lowest whose role still
		// exists and has this registry's prefix (SKIP LOCKED: concurrent
		// creations take different ones), deleted from the reserve in
		// this transaction (a failed creation leaves it there). nextval
		// runs only without one. Then nothing below changes pg_authid or
		// pg_auth_members, whose every change makes every backend
		// recompute its memberships on its next SET ROLE (README,
		// "Tenant roles at scale"). Not on Citus ($7 false): nothing is
		// reserved there.
		var runtimeRoles []string
		var prov *int
		var reserved bool
		err = tx.QueryRow(ctx, `
			WITH rv AS (SELECT v.id FROM public.condo_role_reserve v
			            JOIN pg_catalog.pg_roles r ON r.rolname = v.role_name
			            WHERE $7 AND v.role_name = $3 || 'tenant_' || v.id
			            ORDER BY v.id LIMIT 1 FOR UPDATE OF v SKIP LOCKED),
			rd AS (DELETE FROM public.condo_role_reserve v USING rv WHERE v.id = rv.id RETURNING v.id),
			n AS (SELECT coalesce((SELECT id FROM rd), nextval('public.condo_tenants_id_seq')) AS id),
			`+provisionerCTE("$7 AND NOT EXISTS (SELECT FROM rd)")+`
			INSERT INTO public.condo_tenants (id, slug, name, schema_name, role_name, paid_until, on_trial, migration_version)
			SELECT n.id, $1, $2, 'tenant_' || n.id, $3 || 'tenant_' || n.id, $4, $5, $6 FROM n
			RETURNING id, schema_name, role_name, created_on, (`+runtimeRolesSQL("condo_tenants.id")+`),
				(`+provisionerSQL("condo_tenants.id", "$7")+`), EXISTS (SELECT FROM rd)`,
			p.Slug, p.Name, prefix, dateArg(p.PaidUntil), p.OnTrial, target, citus == "").Scan(&t.ID, &t.Schema, &t.Role, &t.CreatedOn, &runtimeRoles, &prov, &reserved)
		if err != nil {
			return translate(err)
		}
		fromReserve = reserved
		if err := pgident.Validate("schema", t.Schema); err != nil {
			return err
		}
		if err := pgident.Validate("role", t.Role); err != nil {
			return err
		}
		if len(hosts) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO public.condo_domains (host, tenant_id, is_primary, verified_at)
				SELECT h, $2, o = 1, now() FROM unnest($1::text[]) WITH ORDINALITY AS u(h, o)`,
				hosts, t.ID); err != nil {
				return translate(err)
			}
			for i, h := range hosts {
				t.Domains = append(t.Domains, Domain{Host: h, Primary: i == 0, Verified: true})
			}
		}
		s, ro := pgident.Quote(t.Schema), pgident.Quote(t.Role)
		// The migration table is created before the default privileges, so
		// the tenant role can neither read nor forge its migration history.
		// A reserved role was made with its grants already.
		roleSQL := ""
		if !reserved {
			if roleSQL, err = r.createRoleSQL(t.Role, citus, prov, runtimeRoles); err != nil {
				return err
			}
		}
		ddl := citusCreatePrefix(citus) + "CREATE SCHEMA " + s + ";\n" +
			"SET LOCAL search_path TO " + s + ";\n" + condomigrate.TenantHistoryDDL + ";\n" +
			condomigrate.TenantHistoryReplicaIdentityDDL + ";\n" +
			roleSQL +
			"GRANT USAGE ON SCHEMA " + s + " TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + ro + ";\n"
		if !p.pending {
			ddl += notifySQL(Change{Op: "create", ID: t.ID, Slug: t.Slug, Hosts: hosts})
		}
		if err := execScript(ctx, tx, ddl); err != nil {
			return translate(err)
		}
		if t.MigrationVersion, err = r.migrator.ApplyTenantTxUpto(ctx, tx, t.Slug, t.Schema, 0, target); err != nil {
			return err
		}
		if t.MigrationVersion != target {
			return fmt.Errorf("migrated to %d, recorded %d", t.MigrationVersion, target)
		}
		hooks := []OnTenantCreatedFunc{r.hook, p.OnCreated}
		if p.skipHooks {
			hooks = hooks[1:]
		}
		for _, hook := range hooks {
			if hook == nil {
				continue
			}
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+s); err != nil {
				return err
			}
			if err := hook(ctx, tx, t); err != nil {
				return fmt.Errorf("tenant %q created hook: %w", t.Slug, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create tenant %q: %w", p.Slug, err)
	}
	if fromReserve {
		r.wakeReserve()
	}
	if p.pending {
		// The slug is the pending one now (pendingSlugPrefix + id), not
		// the throwaway p.Slug.
		r.logger.LogAttrs(ctx, slog.LevelInfo, "pending tenant made", slog.String("tenant", pendingSlugPrefix+strconv.FormatInt(t.ID, 10)), slog.String("schema", t.Schema))
		return t, nil
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant created", slog.String("tenant", t.Slug), slog.String("schema", t.Schema),
		slog.Bool("reserved_role", fromReserve))
	return t, nil
}

// createRoleSQL returns the statements that make tenant role role (LOGIN
// on Citus, citus being its version: tenant roles log in to the workers)
// and let the runtime
// roles serving it (runtimeRoles, from [runtimeRolesSQL]) SET ROLE to it.
//
// Without provisioning roles (prov nil) the owner makes it and is a
// member of it, as it is of every tenant role. With one ([Provision]),
// that role's function makes and grants it, so that the ADMIN OPTION
// PostgreSQL 16+ gives a creator lands on a role holding only its share of
// the tenant roles, and the owner becomes a member only when no runtime
// role serves the tenant (one role for everything): its membership list,
// which every backend of the owner recomputes after each GRANT, stays as
// short as the set-up allows.
func (r *Registry) createRoleSQL(role, citus string, prov *int, runtimeRoles []string) (string, error) {
	if prov == nil {
		grantRuntime, err := r.grantRuntimeSQL(runtimeRoles, pgident.Quote(role))
		if err != nil {
			return "", err
		}
		ro := pgident.Quote(role)
		return "CREATE ROLE " + ro + citusRoleLogin(citus) + ";\n" +
			"GRANT " + ro + " TO CURRENT_USER" + r.memberOptions() + ";\n" +
			grantRuntime, nil
	}
	// With no runtime role, the owner: session_user, which the function,
	// running as the provisioning role, still sees as the caller.
	grantees := "ARRAY[session_user::text]"
	if len(runtimeRoles) > 0 {
		grantees = textArraySQL(runtimeRoles)
	}
	return provisionCallSQL(*prov, "create", role, "NULL", citus != "") +
		provisionCallSQL(*prov, "grant", role, grantees, false), nil
}

// createVersion is the tenant migration version a creation reaches: the
// latest, or for an import (version > 0) the last one at or below the
// export's, or none (version -1).
func (r *Registry) createVersion(version int64) int64 {
	line := r.migrator.TenantLine()
	if version == 0 {
		return line.Latest()
	}
	ms := line.Upto(max(version, 0))
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// memberOptions are the options of the login role's membership in a
// tenant role. From PostgreSQL 16 on it is WITH INHERIT FALSE, SET TRUE:
// the login role may SET ROLE to the tenant role (all a tenant transaction
// needs) without holding the tenant role's privileges itself, so a query
// that left the tenant role gets nothing through the membership. Older
// servers have no such options: the membership inherits.
func (r *Registry) memberOptions() string {
	if r.serverNum >= 160000 {
		return " WITH INHERIT FALSE, SET TRUE"
	}
	return ""
}

func dateArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.DateOnly)
}

func normalizeHosts(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, h := range in {
		n, err := NormalizeHost(h)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// translate maps PostgreSQL errors at the store boundary.
func translate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.UniqueViolation {
		switch pe.ConstraintName {
		case "condo_tenants_slug_key":
			return ErrTenantExists
		case "condo_domains_pkey":
			return ErrDomainTaken
		}
	}
	return err
}
