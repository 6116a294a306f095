package condo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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

// Domain returns the custom domain host, whichever tenant it belongs to,
// with its verification token while it is unverified (or was verified by
// proof, which keeps the token). Returns [ErrDomainNotFound] when host is
// no tenant's domain, or is not a valid host name.
func (r *Registry) Domain(ctx context.Context, host string) (*Domain, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", host, ErrDomainNotFound)
	}
	d := &Domain{Host: h}
	err = r.pool.QueryRow(ctx, `SELECT is_primary, verified_at IS NOT NULL, COALESCE(verify_token, '')
		FROM public.condo_domains WHERE host = $1`, h).Scan(&d.Primary, &d.Verified, &d.VerifyToken)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("domain %q: %w", h, ErrDomainNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", h, err)
	}
	return d, nil
}

// ConfirmDomain records that the owner of host proved control of it with
// token (see condocert.VerifyDomain): if token is still host's token it
// marks host verified (again: verified_at is refreshed, the token kept, so
// a later check can be repeated) and announces the change, so every
// server starts routing host at once. It returns when host was verified.
// Returns [ErrDomainNotFound] when host is not a domain with that token
// (removed, or given a new token, since the proof was fetched).
func (r *Registry) ConfirmDomain(ctx context.Context, host, token string) (time.Time, error) {
	h, err := NormalizeHost(host)
	if err != nil || token == "" {
		return time.Time{}, fmt.Errorf("confirm domain %q: %w", host, ErrDomainNotFound)
	}
	var at time.Time
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var id int64
		var slug string
		err := tx.QueryRow(ctx, `
			WITH u AS (
				UPDATE public.condo_domains SET verified_at = now() WHERE host = $1 AND verify_token = $2
				RETURNING verified_at, tenant_id)
			SELECT u.verified_at, t.id, t.slug FROM u JOIN public.condo_tenants t ON t.id = u.tenant_id`,
			h, token).Scan(&at, &id, &slug)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		return notify(ctx, tx, Change{Op: "domain", ID: id, Slug: slug, Hosts: []string{h}})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("confirm domain %q: %w", h, err)
	}
	return at, nil
}

// ActiveDomainTenant returns the id of the active tenant whose verified
// custom domain host is: the question an on-demand certificate decision
// asks (condocert.RegistryAllow) before a CA is contacted. Returns
// [ErrDomainNotFound] when host is not a verified domain of an active
// tenant (unknown, unverified, or its tenant suspended or deleted).
func (r *Registry) ActiveDomainTenant(ctx context.Context, host string) (int64, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return 0, fmt.Errorf("domain %q: %w", host, ErrDomainNotFound)
	}
	var id int64
	err = r.pool.QueryRow(ctx, `SELECT t.id FROM public.condo_domains d
		JOIN public.condo_tenants t ON t.id = d.tenant_id
		WHERE d.host = $1 AND d.verified_at IS NOT NULL AND t.status = 'active'`, h).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("domain %q: %w", h, ErrDomainNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("domain %q: %w", h, err)
	}
	return id, nil
}
