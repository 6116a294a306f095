package condo

import (
	"context"
	"fmt"
)

// GetByRole returns the tenant whose database role is role, in any
// status: what a background job stamped with the role that enqueued it
// (see package condojobs) runs as. Returns [ErrTenantNotFound] if no
// tenant has that role: another role, or a tenant purged since.
func (r *Registry) GetByRole(ctx context.Context, role string) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.role_name = $1", role))
	if err != nil {
		return nil, fmt.Errorf("get tenant by role %q: %w", role, err)
	}
	return t, nil
}
