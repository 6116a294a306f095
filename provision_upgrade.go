package condo

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// provisionUpgrade is what [Provision] runs to bring the functions of the
// provisioning roles made before up to this version.
type provisionUpgrade struct {
	sql string
	n   int
}

// provisionFuncSource is the body PostgreSQL stores (pg_proc.prosrc) for
// provisionFuncBody: the text between the dollar quotes.
func provisionFuncSource() string {
	s := provisionFuncBody[strings.Index(provisionFuncBody, "$f$")+3:]
	return s[:strings.LastIndex(s, "$f$")]
}

// upgradeProvisionSQL returns the statements that replace every recorded
// provisioning function whose body differs from this version's, each as
// its owner: the owner holds the provisioning role (inheriting, member
// being [provisionerMemberOptions]) for the transaction only, as
// [Provision] does when it makes one, so that between transactions it
// holds none of them (see [Provision] for why). CREATE OR REPLACE keeps
// the function's owner and ACL.
func upgradeProvisionSQL(ctx context.Context, db DBTX, member string) (provisionUpgrade, error) {
	rows, err := db.Query(ctx, `SELECT p.shard, p.role_name FROM public.condo_provisioners p
		JOIN pg_catalog.pg_namespace n ON n.nspname = 'condo_provision'
		JOIN pg_catalog.pg_proc f ON f.pronamespace = n.oid AND f.proname = 'p_' || p.shard
		WHERE f.prosrc <> $1 ORDER BY p.shard`, provisionFuncSource())
	if err != nil {
		return provisionUpgrade{}, fmt.Errorf("provision: read functions: %w", err)
	}
	type prov struct {
		shard int
		role  string
	}
	old, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (prov, error) {
		var p prov
		err := row.Scan(&p.shard, &p.role)
		return p, err
	})
	if err != nil {
		return provisionUpgrade{}, fmt.Errorf("provision: read functions: %w", err)
	}
	var b strings.Builder
	for _, p := range old {
		if err := pgident.ValidateGiven("role", p.role); err != nil {
			return provisionUpgrade{}, err
		}
		q := pgident.Quote(p.role)
		b.WriteString("GRANT " + q + " TO CURRENT_USER" + member + ";\n" +
			"CREATE OR REPLACE FUNCTION " + provisionFunc(p.shard) + provisionFuncBody + ";\n" +
			"REVOKE " + q + " FROM CURRENT_USER;\n")
	}
	return provisionUpgrade{sql: b.String(), n: len(old)}, nil
}
