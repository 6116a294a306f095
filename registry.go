package condo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
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

// OnTenantCreatedFunc runs inside the creating transaction, after the
// schema is migrated, with search_path set to the tenant's schema alone and
// the application's own role (so it may also write shared tables,
// schema-qualified). Returning an error undoes the whole creation.
type OnTenantCreatedFunc func(ctx context.Context, tx pgx.Tx, t *Tenant) error

// RegistryConfig configures a [Registry]. A nil *RegistryConfig is valid.
type RegistryConfig struct {
	// Reserved labels can't be slugs. Defaults to [DefaultReserved]().
	Reserved []string
	// RolePrefix starts every tenant role name. Defaults to the connecting
	// user's name followed by "_", so applications sharing a cluster under
	// different users never collide. At most 40 bytes of [a-z0-9_].
	RolePrefix string
	// OnTenantCreated, when set, runs for every tenant created (see
	// [OnTenantCreatedFunc]).
	OnTenantCreated OnTenantCreatedFunc
	// TenantPool, when set, runs tenant transactions ([Registry.InTx],
	// [Registry.InTenantTx], [Registry.QueryTenant]) instead of the
	// registry's pool, which keeps creating, changing and purging tenants.
	// Connect it as a runtime login role that owns nothing, prepared with
	// [GrantRuntime] (after which every registry's [Registry.Create]
	// grants it each new tenant role): SQL that leaves a tenant role then
	// holds only that role's rights (see the README's blast-radius
	// section). Defaults to the registry's pool: one role, the weaker mode.
	TenantPool *pgxpool.Pool
	// StatementTimeout, when positive, bounds every statement of tenant
	// transactions and queries ([Registry.InTx], [Registry.QueryTenant]):
	// PostgreSQL cancels one that runs longer, and the call returns
	// [ErrStatementTimeout]. It is set per transaction (SET LOCAL), so it
	// works through a transaction pooler and never leaks to other work on
	// the connection. Zero leaves the server's setting. Whole milliseconds.
	StatementTimeout time.Duration
	// AcquireTimeout, when positive, bounds how long a tenant transaction
	// or query waits for a pooled connection; then it returns
	// [ErrDatabaseUnavailable] instead of queueing behind an exhausted pool
	// (or a database that does not answer) for as long as ctx allows. Zero
	// waits as long as ctx.
	AcquireTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Registry is the tenant registry in the shared schema: it creates, finds,
// changes and deletes tenants, and runs tenant transactions.
type Registry struct {
	pool     *pgxpool.Pool
	tpool    *pgxpool.Pool // tenant transactions; nil: pool
	migrator *condomigrate.Migrator
	reserved []string
	hook     OnTenantCreatedFunc
	logger   *slog.Logger
	named    bool // QueryTenant may prepare statements (no transaction pooler)
	limits   atomic.Pointer[queryLimits]

	prefixMu   sync.Mutex
	rolePrefix string
	serverNum  int // server_version_num, read with the prefix
}

// NewRegistry returns a registry over pool. Tenant creation applies the
// migrator's tenant line. It panics if migrator is nil (a programmer error).
func NewRegistry(pool *pgxpool.Pool, migrator *condomigrate.Migrator, cfg *RegistryConfig) *Registry {
	if migrator == nil {
		panic("condo: NewRegistry needs a migrator")
	}
	if cfg == nil {
		cfg = &RegistryConfig{}
	}
	r := &Registry{
		pool:       pool,
		tpool:      cfg.TenantPool,
		migrator:   migrator,
		reserved:   cfg.Reserved,
		hook:       cfg.OnTenantCreated,
		logger:     cmp.Or(cfg.Logger, slog.Default()),
		rolePrefix: cfg.RolePrefix,
	}
	if r.reserved == nil {
		r.reserved = DefaultReserved()
	}
	// Tenant queries run on the tenant pool: its pooler mode counts.
	if tp := r.tenantPool(); tp != nil {
		r.named = namedStatements(tp.Config().ConnConfig.DefaultQueryExecMode)
	}
	r.SetTimeouts(cfg.StatementTimeout, cfg.AcquireTimeout)
	return r
}

// SetTimeouts changes the registry's StatementTimeout and AcquireTimeout
// (see [RegistryConfig]), for programs that configure a registry after it
// was built (the CLI's serve flags). It is safe to call at any time.
func (r *Registry) SetTimeouts(statement, acquire time.Duration) {
	r.limits.Store(&queryLimits{statement: statement, acquire: acquire})
}

// Pool returns the registry's pool (the owner role's).
func (r *Registry) Pool() *pgxpool.Pool { return r.pool }

// TenantPool returns the pool tenant transactions run on:
// [RegistryConfig.TenantPool], or the registry's pool.
func (r *Registry) TenantPool() *pgxpool.Pool { return r.tenantPool() }

// Migrator returns the registry's migrator.
func (r *Registry) Migrator() *condomigrate.Migrator { return r.migrator }

// Reserved returns the reserved labels.
func (r *Registry) Reserved() []string { return r.reserved }

// ValidateSlug checks slug against the naming rules and this registry's
// reserved labels. See [ValidateSlug].
func (r *Registry) ValidateSlug(slug string) error { return ValidateSlug(slug, r.reserved) }

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
	// version, when non-zero, stops migrations at that version (import);
	// -1 applies none.
	version int64
	// skipHooks leaves out the registry's OnTenantCreated (import: the
	// data comes from the file, not from seeding).
	skipHooks bool
}

func (r *Registry) prefix(ctx context.Context, q pgx.Tx) (string, error) {
	r.prefixMu.Lock()
	defer r.prefixMu.Unlock()
	if r.serverNum == 0 {
		if err := q.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&r.serverNum); err != nil {
			return "", fmt.Errorf("read server version: %w", err)
		}
	}
	if r.rolePrefix != "" {
		return r.rolePrefix, nil
	}
	var user string
	if err := q.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		return "", fmt.Errorf("read current user: %w", err)
	}
	var b strings.Builder
	for _, c := range strings.ToLower(user) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	p := b.String()
	if len(p) > 40 {
		p = p[:40]
	}
	r.rolePrefix = p + "_"
	return r.rolePrefix, nil
}

// Create makes a tenant: registry row, domains, schema, role, grants and all
// tenant migrations, then the creation hooks, in one transaction. Either all
// of it commits or none of it does.
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
	var t *Tenant
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		prefix, err := r.prefix(ctx, tx)
		if err != nil {
			return err
		}
		t = &Tenant{Slug: p.Slug, Name: p.Name, Status: StatusActive, PaidUntil: p.PaidUntil, OnTrial: p.OnTrial}
		// The runtime roles to grant the new role to come back with the
		// registry row: no round trip of their own on every creation.
		var runtimeRoles []string
		err = tx.QueryRow(ctx, `
			WITH n AS (SELECT nextval('public.condo_tenants_id_seq') AS id)
			INSERT INTO public.condo_tenants (id, slug, name, schema_name, role_name, paid_until, on_trial)
			SELECT n.id, $1, $2, 'tenant_' || n.id, $3 || 'tenant_' || n.id, $4, $5 FROM n
			RETURNING id, schema_name, role_name, created_on, (`+runtimeRolesSQL+`)`,
			p.Slug, p.Name, prefix, dateArg(p.PaidUntil), p.OnTrial).Scan(&t.ID, &t.Schema, &t.Role, &t.CreatedOn, &runtimeRoles)
		if err != nil {
			return translate(err)
		}
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
		grantRuntime, err := r.grantRuntimeSQL(runtimeRoles, ro)
		if err != nil {
			return err
		}
		// The migration table is created before the default privileges, so
		// the tenant role can neither read nor forge its migration history.
		ddl := "CREATE SCHEMA " + s + ";\n" +
			"SET LOCAL search_path TO " + s + ";\n" + condomigrate.TenantHistoryDDL + ";\n" +
			"CREATE ROLE " + ro + " NOLOGIN;\n" +
			"GRANT " + ro + " TO CURRENT_USER" + r.memberOptions() + ";\n" +
			grantRuntime +
			"GRANT USAGE ON SCHEMA " + s + " TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + ro + ";\n" +
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + ro + ";\n" +
			notifySQL(Change{Op: "create", ID: t.ID, Slug: t.Slug, Hosts: hosts})
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return translate(err)
		}
		migrate := r.migrator.ApplyTenantTx
		if p.version != 0 {
			migrate = func(ctx context.Context, tx pgx.Tx, id int64, slug, schema string, from int64) (int64, error) {
				return r.migrator.ApplyTenantTxUpto(ctx, tx, id, slug, schema, from, max(p.version, 0))
			}
		}
		if t.MigrationVersion, err = migrate(ctx, tx, t.ID, t.Slug, t.Schema, 0); err != nil {
			return err
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
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant created", slog.String("tenant", t.Slug), slog.String("schema", t.Schema))
	return t, nil
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

// translate maps PostgreSQL errors at the store boundary.
func translate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "condo_tenants_slug_key":
			return ErrTenantExists
		case "condo_domains_pkey":
			return ErrDomainTaken
		}
	}
	return err
}

const tenantColumns = `t.id, t.slug, t.name, t.schema_name, t.role_name, t.status, t.paid_until, t.on_trial,
	t.created_on, t.migration_version,
	COALESCE((SELECT json_agg(json_build_object('host', d.host, 'primary', d.is_primary,
		'verified', d.verified_at IS NOT NULL, 'verify_token', COALESCE(d.verify_token, ''))
		ORDER BY d.is_primary DESC, d.host) FROM public.condo_domains d WHERE d.tenant_id = t.id), '[]')`

func scanTenant(row pgx.Row) (*Tenant, error) {
	t := &Tenant{}
	var paid *time.Time
	var domains []byte
	if err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Schema, &t.Role, &t.Status, &paid, &t.OnTrial,
		&t.CreatedOn, &t.MigrationVersion, &domains); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrTenantNotFound
		}
		return nil, err
	}
	t.PaidUntil = paid
	if err := json.Unmarshal(domains, &t.Domains); err != nil {
		return nil, fmt.Errorf("decode domains: %w", err)
	}
	return t, nil
}

// Get returns the tenant with that slug, in any status. Returns
// [ErrTenantNotFound] if there is none.
func (r *Registry) Get(ctx context.Context, slug string) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1", slug))
	if err != nil {
		return nil, fmt.Errorf("get tenant %q: %w", slug, err)
	}
	return t, nil
}

// GetByID returns the tenant with that id. Returns [ErrTenantNotFound].
func (r *Registry) GetByID(ctx context.Context, id int64) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get tenant %d: %w", id, err)
	}
	return t, nil
}

// GetByHost returns the tenant owning the verified custom domain host (in
// any status). host must already be normalised ([NormalizeHost]). Returns
// [ErrTenantNotFound] if no tenant has verified that host.
func (r *Registry) GetByHost(ctx context.Context, host string) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+
		" FROM public.condo_domains d0 JOIN public.condo_tenants t ON t.id = d0.tenant_id WHERE d0.host = $1 AND d0.verified_at IS NOT NULL", host))
	if err != nil {
		return nil, fmt.Errorf("get tenant by host %q: %w", host, err)
	}
	return t, nil
}

// ListParams filters and pages [Registry.List]. The zero value lists the
// first 50 tenants that are not deleted, by slug.
type ListParams struct {
	// Status filters by status. Empty means active and suspended.
	Status Status
	// AllStatuses includes deleted tenants too (Status must be empty).
	AllStatuses bool
	// OnTrial, when set, filters by trial.
	OnTrial *bool
	// PaidBefore, when set, keeps tenants whose paid_until is before it
	// (or unset).
	PaidBefore *time.Time
	// Search matches slug, name or a domain, case-insensitively.
	Search string
	// After is the cursor: list slugs after it (ListResult.Next).
	After string
	// Limit defaults to 50; at most 1000.
	Limit int
}

// ListResult is one page.
type ListResult struct {
	Tenants []*Tenant
	// Next is the cursor for the next page, "" on the last page.
	Next string
}

// List returns a page of tenants ordered by slug.
func (r *Registry) List(ctx context.Context, p ListParams) (*ListResult, error) {
	limit := cmp.Or(p.Limit, 50)
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("list tenants: limit %d out of range 1..1000", p.Limit)
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	switch {
	case p.Status != "":
		where = append(where, "t.status = "+arg(string(p.Status)))
	case !p.AllStatuses:
		where = append(where, "t.status <> 'deleted'")
	}
	if p.OnTrial != nil {
		where = append(where, "t.on_trial = "+arg(*p.OnTrial))
	}
	if p.PaidBefore != nil {
		where = append(where, "(t.paid_until IS NULL OR t.paid_until < "+arg(p.PaidBefore.Format(time.DateOnly))+"::date)")
	}
	if p.Search != "" {
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(p.Search) + "%"
		a := arg(pat)
		where = append(where, "(t.slug ILIKE "+a+" OR t.name ILIKE "+a+
			" OR EXISTS (SELECT 1 FROM public.condo_domains d WHERE d.tenant_id = t.id AND d.host ILIKE "+a+"))")
	}
	if p.After != "" {
		where = append(where, "t.slug > "+arg(p.After))
	}
	q := "SELECT " + tenantColumns + " FROM public.condo_tenants t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.slug LIMIT " + arg(limit+1)
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	res := &ListResult{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		res.Tenants = append(res.Tenants, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if len(res.Tenants) > limit {
		res.Tenants = res.Tenants[:limit]
		res.Next = res.Tenants[limit-1].Slug
	}
	return res, nil
}

// lockTenant locks the registry row of slug for the rest of tx.
func lockTenant(ctx context.Context, tx pgx.Tx, slug string) (*Tenant, error) {
	return scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1 FOR UPDATE OF t", slug))
}

// setStatus moves a tenant to status, announcing op.
func (r *Registry) setStatus(ctx context.Context, slug string, status Status, op string) error {
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if t.Status == StatusDeleted && status != StatusDeleted && op != "restore" {
			return ErrTenantDeleted
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET status = $2, updated_at = now() WHERE id = $1", t.ID, string(status)); err != nil {
			return err
		}
		return notify(ctx, tx, Change{Op: op, ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return fmt.Errorf("%s tenant %q: %w", op, slug, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant "+op, slog.String("tenant", slug))
	return nil
}

func hostsOf(t *Tenant) []string {
	hs := make([]string, len(t.Domains))
	for i, d := range t.Domains {
		hs[i] = d.Host
	}
	return hs
}

// Suspend stops serving the tenant (its site shows a suspended page); its
// data is kept. Returns [ErrTenantNotFound] or [ErrTenantDeleted].
func (r *Registry) Suspend(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusSuspended, "suspend")
}

// Resume makes a suspended tenant active again. Returns
// [ErrTenantNotFound] or [ErrTenantDeleted].
func (r *Registry) Resume(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusActive, "resume")
}

// Restore makes a deleted (not purged) tenant active again.
func (r *Registry) Restore(ctx context.Context, slug string) error {
	return r.setStatus(ctx, slug, StatusActive, "restore")
}

// UpdateParams changes a tenant's attributes; nil fields stay.
type UpdateParams struct {
	Name      *string
	PaidUntil *time.Time
	// ClearPaidUntil sets paid_until to NULL.
	ClearPaidUntil bool
	OnTrial        *bool
}

// Update changes name, paid_until or trial. Returns [ErrTenantNotFound] or a
// [*NameError] for a bad name.
func (r *Registry) Update(ctx context.Context, slug string, p UpdateParams) (*Tenant, error) {
	if p.Name != nil {
		if err := ValidateName(*p.Name); err != nil {
			return nil, err
		}
	}
	var out *Tenant
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if p.Name != nil {
			t.Name = *p.Name
		}
		if p.PaidUntil != nil {
			t.PaidUntil = p.PaidUntil
		}
		if p.ClearPaidUntil {
			t.PaidUntil = nil
		}
		if p.OnTrial != nil {
			t.OnTrial = *p.OnTrial
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET name = $2, paid_until = $3, on_trial = $4, updated_at = now() WHERE id = $1",
			t.ID, t.Name, dateArg(t.PaidUntil), t.OnTrial); err != nil {
			return err
		}
		out = t
		return notify(ctx, tx, Change{Op: "update", ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return nil, fmt.Errorf("update tenant %q: %w", slug, err)
	}
	return out, nil
}

// Rename changes a tenant's slug (and so its subdomain). The schema, role
// and data stay as they are: they are named after the tenant's id. Returns
// [ErrTenantNotFound], [ErrTenantExists], or a [*NameError].
func (r *Registry) Rename(ctx context.Context, oldSlug, newSlug string) error {
	if err := r.ValidateSlug(newSlug); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, oldSlug)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET slug = $2, updated_at = now() WHERE id = $1", t.ID, newSlug); err != nil {
			return translate(err)
		}
		return notify(ctx, tx, Change{Op: "rename", ID: t.ID, Slug: newSlug, OldSlug: oldSlug, Hosts: hostsOf(t)})
	})
	if err != nil {
		return fmt.Errorf("rename tenant %q to %q: %w", oldSlug, newSlug, err)
	}
	return nil
}

// DeleteOpts tunes [Registry.Delete]. A nil *DeleteOpts is valid.
type DeleteOpts struct {
	// Purge drops the schema, the role and the registry rows for good.
	// Without it the tenant is only marked deleted: it is no longer served,
	// and its data and slug are kept so it can be restored or exported.
	Purge bool
}

// Delete marks a tenant deleted, or purges it when opts.Purge is set (all in
// one transaction). Returns [ErrTenantNotFound].
func (r *Registry) Delete(ctx context.Context, slug string, opts *DeleteOpts) error {
	if opts == nil || !opts.Purge {
		return r.setStatus(ctx, slug, StatusDeleted, "delete")
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if err := pgident.Validate("schema", t.Schema); err != nil {
			return err
		}
		if err := pgident.Validate("role", t.Role); err != nil {
			return err
		}
		if _, err := r.prefix(ctx, tx); err != nil {
			return err
		}
		s, ro := pgident.Quote(t.Schema), pgident.Quote(t.Role)
		sql := "DROP SCHEMA IF EXISTS " + s + " CASCADE;\n"
		if r.serverNum >= 160000 {
			// DROP OWNED BY needs the privileges of the role, which the
			// membership made by Create does not inherit.
			sql += "GRANT " + ro + " TO CURRENT_USER WITH INHERIT TRUE;\n"
		}
		sql += "DROP OWNED BY " + ro + ";\n" +
			"DROP ROLE " + ro + ";\n" +
			fmt.Sprintf("DELETE FROM public.condo_tenants WHERE id = %d;\n", t.ID) +
			notifySQL(Change{Op: "purge", ID: t.ID, Slug: t.Slug, Hosts: hostsOf(t)})
		_, err = tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return fmt.Errorf("purge tenant %q: %w", slug, err)
	}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "tenant purged", slog.String("tenant", slug))
	return nil
}

// DomainOpts tunes [Registry.AddDomain]. A nil *DomainOpts is valid.
type DomainOpts struct {
	// Primary makes the new domain the tenant's primary one.
	Primary bool
	// Unverified adds the domain with a verification token: it is neither
	// routed nor given a certificate until its owner publishes the token
	// and [Registry.MarkDomainVerified] is called. Without it the caller
	// (an operator) vouches for the domain.
	Unverified bool
}

// AddDomain registers host to the tenant. Returns [ErrTenantNotFound],
// [ErrDomainTaken], or a [*NameError] for a bad host.
func (r *Registry) AddDomain(ctx context.Context, slug, host string, opts *DomainOpts) (*Domain, error) {
	if opts == nil {
		opts = &DomainOpts{}
	}
	h, err := NormalizeHost(host)
	if err != nil {
		return nil, err
	}
	d := &Domain{Host: h, Primary: opts.Primary, Verified: !opts.Unverified}
	if opts.Unverified {
		d.VerifyToken = randomToken()
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		if opts.Primary {
			if _, err := tx.Exec(ctx, "UPDATE public.condo_domains SET is_primary = false WHERE tenant_id = $1 AND is_primary", t.ID); err != nil {
				return err
			}
		}
		var token any
		if d.VerifyToken != "" {
			token = d.VerifyToken
		}
		if _, err := tx.Exec(ctx, `INSERT INTO public.condo_domains (host, tenant_id, is_primary, verified_at, verify_token)
			VALUES ($1, $2, $3, CASE WHEN $4::text IS NULL THEN now() END, $4)`, h, t.ID, opts.Primary, token); err != nil {
			return translate(err)
		}
		return notify(ctx, tx, Change{Op: "domain", ID: t.ID, Slug: t.Slug, Hosts: []string{h}})
	})
	if err != nil {
		return nil, fmt.Errorf("add domain %q to tenant %q: %w", host, slug, err)
	}
	return d, nil
}

// RemoveDomain unregisters host from the tenant. Returns
// [ErrTenantNotFound] or [ErrDomainNotFound].
func (r *Registry) RemoveDomain(ctx context.Context, slug, host string) error {
	return r.changeDomain(ctx, slug, host, "remove", "DELETE FROM public.condo_domains WHERE tenant_id = $1 AND host = $2")
}

// SetPrimaryDomain makes host the tenant's primary domain. Returns
// [ErrTenantNotFound] or [ErrDomainNotFound].
func (r *Registry) SetPrimaryDomain(ctx context.Context, slug, host string) error {
	return r.changeDomain(ctx, slug, host, "set primary",
		"UPDATE public.condo_domains SET is_primary = false WHERE tenant_id = $1 AND is_primary AND host <> $2",
		"UPDATE public.condo_domains SET is_primary = true WHERE tenant_id = $1 AND host = $2")
}

// MarkDomainVerified records that the owner of host proved control of it.
// Returns [ErrDomainNotFound].
func (r *Registry) MarkDomainVerified(ctx context.Context, slug, host string) error {
	return r.changeDomain(ctx, slug, host, "verify",
		"UPDATE public.condo_domains SET verified_at = now(), verify_token = NULL WHERE tenant_id = $1 AND host = $2")
}

func (r *Registry) changeDomain(ctx context.Context, slug, host, what string, stmts ...string) error {
	h, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, slug)
		if err != nil {
			return err
		}
		var tag pgconn.CommandTag
		for _, s := range stmts {
			if tag, err = tx.Exec(ctx, s, t.ID, h); err != nil {
				return err
			}
		}
		if tag.RowsAffected() == 0 {
			return ErrDomainNotFound
		}
		return notify(ctx, tx, Change{Op: "domain", ID: t.ID, Slug: t.Slug, Hosts: []string{h}})
	})
	if err != nil {
		return fmt.Errorf("%s domain %q of tenant %q: %w", what, host, slug, err)
	}
	return nil
}
