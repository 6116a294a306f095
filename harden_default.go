package condo

import (
	"context"
	"fmt"
)

// DefaultHardenRoles returns db's role and the login roles that keep
// set_config when a database is hardened without naming them: db's role
// and the database's owner.
func DefaultHardenRoles(ctx context.Context, db DBTX) (current string, roles []string, err error) {
	var owner string
	err = db.QueryRow(ctx, `SELECT current_user, pg_get_userbyid(datdba) FROM pg_database
		WHERE datname = current_database()`).Scan(&current, &owner)
	if err != nil {
		return "", nil, fmt.Errorf("harden: %w", err)
	}
	roles = []string{current}
	if owner != current {
		roles = append(roles, owner)
	}
	return current, roles, nil
}

// HardenIfSuperuser hardens the database ([Harden], keeping set_config for
// [DefaultHardenRoles]) when db's role is a superuser and the database is
// not hardened yet: the one time an application holds the privilege
// (migrate run as a superuser). It returns the roles that kept set_config,
// or nil when it did nothing.
func HardenIfSuperuser(ctx context.Context, db DBTX) ([]string, error) {
	st, err := CheckHardening(ctx, db)
	if err != nil || !st.Superuser || st.SetConfigRevoked {
		return nil, err
	}
	_, roles, err := DefaultHardenRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := Harden(ctx, db, roles...); err != nil {
		return nil, err
	}
	return roles, nil
}
