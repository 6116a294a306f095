package condocli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

func newHardenCmd(c *CLI) *cobra.Command {
	var (
		roles []string
		print bool
	)
	cmd := &cobra.Command{
		Use:   "harden",
		Short: "Take set_config from tenant roles (once per database, as a superuser)",
		Long: `Make one injected SQL statement unable to leave its tenant role: revoke
EXECUTE on pg_catalog.set_config from PUBLIC and grant it back to the
application's login roles: --role, by default the DATABASE_URL role and the
database's owner. Name the runtime role too when roles are split.

Only a superuser may do this. Connected as one, harden does it (and so
does migrate, when the database is not hardened yet); otherwise
(or with --print) it prints the SQL for an operator to run once, as the
superuser, in the application's database, e.g. with psql -f. It then
reports the database's state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := c.Open(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			hs, err := condo.CheckHardening(ctx, st.Pool)
			if err != nil {
				return err
			}
			me, defaults, err := condo.DefaultHardenRoles(ctx, st.Pool)
			if err != nil {
				return err
			}
			if len(roles) == 0 {
				roles = defaults
			}
			sql, err := condo.HardenSQL(roles...)
			if err != nil {
				return err
			}
			if print || !hs.Superuser {
				if !print {
					fmt.Fprintf(out, "-- %s is not a superuser: run this once as the superuser in this database.\n", me)
				}
				fmt.Fprint(out, sql)
				return nil
			}
			if err := condo.Harden(ctx, st.Pool, roles...); err != nil {
				return err
			}
			if hs, err = condo.CheckHardening(ctx, st.Pool); err != nil {
				return err
			}
			printHardening(out, hs)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", nil, "a login role that keeps set_config (repeatable; default: this role and the database owner)")
	cmd.Flags().BoolVar(&print, "print", false, "print the SQL instead of running it")
	return cmd
}

// hardenIfSuperuser is migrate's [condo.HardenIfSuperuser], printed.
func (c *CLI) hardenIfSuperuser(ctx context.Context, st *condostack.Stack, out io.Writer) error {
	roles, err := condo.HardenIfSuperuser(ctx, st.Pool)
	if err != nil || roles == nil {
		return err
	}
	fmt.Fprintf(out, "hardened: set_config revoked from tenant roles, kept by %s (see harden)\n", strings.Join(roles, ", "))
	return nil
}

// checkBlastRadius is doctor's check of what one SQL injection in tenant
// code can reach (see harden and runtime-grant).
func checkBlastRadius(ctx context.Context, st *condostack.Stack) checkResult {
	const name = "blast radius"
	hs, err := condo.CheckHardening(ctx, st.Pool)
	switch {
	case err != nil:
		return failf(name, "cannot read the privileges: %v", err)
	case !hs.SetConfigGranted:
		return failf(name, "%s may not execute set_config, so tenant queries cannot switch tenants; as the superuser run what `harden --print` prints", st.Pool.Config().ConnConfig.User)
	case !hs.SetConfigRevoked:
		return warnf(name, "tenant roles may call set_config, so one injected SQL statement can leave its tenant role and read every tenant; as the superuser run what `harden --print` prints, once")
	case len(hs.RuntimeRoles) == 0:
		return okf(name, "set_config revoked from tenant roles; one role for everything (split roles with a runtime role, see runtime-grant, to keep stacked statements away from the owner: secrets, registry, DDL)")
	default:
		return okf(name, "set_config revoked from tenant roles; tenant transactions may run as runtime role %s", strings.Join(hs.RuntimeRoles, ", "))
	}
}

func printHardening(w io.Writer, hs *condo.HardeningStatus) {
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "set_config revoked from tenant roles: %s\n", yes[hs.SetConfigRevoked])
	fmt.Fprintf(w, "set_config granted to this role:      %s\n", yes[hs.SetConfigGranted])
	if len(hs.RuntimeRoles) > 0 {
		fmt.Fprintf(w, "runtime roles (split roles):          %s\n", strings.Join(hs.RuntimeRoles, ", "))
	} else {
		fmt.Fprintf(w, "runtime roles (split roles):          none, one role for everything\n")
	}
}

func newRuntimeGrantCmd(c *CLI) *cobra.Command {
	var shards, shard, provisioners int
	cmd := &cobra.Command{
		Use:   "runtime-grant ROLE",
		Short: "Let a runtime login role run tenant transactions (split roles)",
		Long: `Grant ROLE, a login role that owns nothing, what serve's tenant
transactions need when it runs them (--runtime-database-url): every tenant
role (WITH INHERIT FALSE, SET TRUE on PostgreSQL 16+) and, in a hardened
database, set_config. On shared tables it grants nothing itself: it makes
the NOLOGIN role ROLE_shared, which ROLE may SET ROLE to, and grants that
role the application's declared runtime grants (condocli.Config.RuntimeGrants),
never Condo's own tables; serve runs the application's shared-table code as
it. Run it as the owner role
(DATABASE_URL); it only grants what is missing. serve does the same at start,
and every new tenant is granted when it is created.

Make the role first, as a role with CREATEROLE:
  CREATE ROLE app_runtime LOGIN NOINHERIT PASSWORD '...';

With tens of thousands of tenants no role should be a member of them all
(see doctor's "tenant roles" check and the README's "How tenancy is
enforced"): --provisioners N has N provisioning roles create the tenant
roles, and --shards N --shard K makes ROLE serve only the tenants whose
id % N = K (one runtime login role per shard, each on its own pool). Moving
ROLE to another shard grants the new shard's tenant roles first and then
revokes the old shard's, a few hundred per transaction.`,
		Args: Args("ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := c.Open(ctx)
			if err != nil {
				return err
			}
			if provisioners > 0 {
				pr, err := condo.Provision(ctx, st.Pool, provisioners)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "provisioning roles: %d made, %d in all\n", pr.Created, pr.Total)
			}
			res, err := condo.GrantRuntime(ctx, st.Pool, args[0], &condo.GrantRuntimeOpts{Tables: c.cfg.Stack.RuntimeGrants, Shards: shards, Shard: shard})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: granted %d tenant role(s), %d shared table(s), set_config: %v\n", args[0], res.TenantRoles, res.Tables, res.SetConfig)
			if res.Revoked > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: revoked %d tenant role(s) outside shard %d of %d\n", args[0], res.Revoked, shard, shards)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&shards, "shards", 0, "serve one shard of the tenants out of this many (0: all of them)")
	fl.IntVar(&shard, "shard", 0, "the shard ROLE serves: tenants whose id % --shards is this")
	fl.IntVar(&provisioners, "provisioners", 0, "first make sure this many provisioning roles create the tenant roles (0: leave them as they are)")
	return cmd
}
