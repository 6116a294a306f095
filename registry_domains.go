package condo

import (
	"context"
	"fmt"

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
