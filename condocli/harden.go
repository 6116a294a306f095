package condocli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
)

func newHardenCmd(a *app) *cobra.Command {
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
			env, err := a.open(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			st, err := condo.CheckHardening(ctx, env.Pool)
			if err != nil {
				return err
			}
			me, defaults, err := defaultHardenRoles(ctx, env)
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
			if print || !st.Superuser {
				if !print {
					fmt.Fprintf(out, "-- %s is not a superuser: run this once as the superuser in this database.\n", me)
				}
				fmt.Fprint(out, sql)
				return nil
			}
			if err := condo.Harden(ctx, env.Pool, roles...); err != nil {
				return err
			}
			if st, err = condo.CheckHardening(ctx, env.Pool); err != nil {
				return err
			}
			printHardening(out, st)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", nil, "a login role that keeps set_config (repeatable; default: this role and the database owner)")
	cmd.Flags().BoolVar(&print, "print", false, "print the SQL instead of running it")
	return cmd
}

// defaultHardenRoles returns the connected role and the roles that keep
// set_config by default: it and the database's owner.
func defaultHardenRoles(ctx context.Context, env *Env) (string, []string, error) {
	var me, owner string
	err := env.Pool.QueryRow(ctx, `SELECT current_user, pg_get_userbyid(datdba) FROM pg_database
		WHERE datname = current_database()`).Scan(&me, &owner)
	if err != nil {
		return "", nil, fmt.Errorf("harden: %w", err)
	}
	roles := []string{me}
	if owner != me {
		roles = append(roles, owner)
	}
	return me, roles, nil
}

// hardenIfSuperuser hardens the database when migrate runs as a superuser
// and it is not hardened yet: the one time Condo holds the privilege.
func (a *app) hardenIfSuperuser(ctx context.Context, env *Env, out io.Writer) error {
	st, err := condo.CheckHardening(ctx, env.Pool)
	if err != nil || !st.Superuser || st.SetConfigRevoked {
		return err
	}
	_, roles, err := defaultHardenRoles(ctx, env)
	if err != nil {
		return err
	}
	if err := condo.Harden(ctx, env.Pool, roles...); err != nil {
		return err
	}
	fmt.Fprintf(out, "hardened: set_config revoked from tenant roles, kept by %s (see harden)\n", strings.Join(roles, ", "))
	return nil
}

// checkBlastRadius is doctor's check of what one SQL injection in tenant
// code can reach (see harden and runtime-grant).
func checkBlastRadius(ctx context.Context, env *Env) checkResult {
	const name = "blast radius"
	st, err := condo.CheckHardening(ctx, env.Pool)
	switch {
	case err != nil:
		return failf(name, "cannot read the privileges: %v", err)
	case !st.SetConfigGranted:
		return failf(name, "%s may not execute set_config, so tenant queries cannot switch tenants; as the superuser run what `harden --print` prints", env.Pool.Config().ConnConfig.User)
	case !st.SetConfigRevoked:
		return warnf(name, "tenant roles may call set_config, so one injected SQL statement can leave its tenant role and read every tenant; as the superuser run what `harden --print` prints, once")
	case len(st.RuntimeRoles) == 0:
		return okf(name, "set_config revoked from tenant roles; one role for everything (split roles with a runtime role, see runtime-grant, to keep stacked statements away from the owner: secrets, registry, DDL)")
	default:
		return okf(name, "set_config revoked from tenant roles; tenant transactions may run as runtime role %s", strings.Join(st.RuntimeRoles, ", "))
	}
}

func printHardening(w io.Writer, st *condo.HardeningStatus) {
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "set_config revoked from tenant roles: %s\n", yes[st.SetConfigRevoked])
	fmt.Fprintf(w, "set_config granted to this role:      %s\n", yes[st.SetConfigGranted])
	if len(st.RuntimeRoles) > 0 {
		fmt.Fprintf(w, "runtime roles (split roles):          %s\n", strings.Join(st.RuntimeRoles, ", "))
	} else {
		fmt.Fprintf(w, "runtime roles (split roles):          none, one role for everything\n")
	}
}

func newRuntimeGrantCmd(a *app) *cobra.Command {
	return &cobra.Command{
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
  CREATE ROLE app_runtime LOGIN NOINHERIT PASSWORD '...';`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := a.open(ctx)
			if err != nil {
				return err
			}
			res, err := condo.GrantRuntime(ctx, env.Pool, args[0], &condo.GrantRuntimeOpts{Tables: a.cfg.RuntimeGrants})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: granted %d tenant role(s), %d shared table(s), set_config: %v\n", args[0], res.TenantRoles, res.Tables, res.SetConfig)
			return nil
		},
	}
}

// useRuntime opens the runtime role's pool at url and makes env's registry
// run tenant transactions on it (split roles), after granting the runtime
// role whatever tenant roles and declared shared-table grants it lacks, and
// gives the application env.SharedPool over it. It returns the pool to close after the server
// stopped.
func (a *app) useRuntime(ctx context.Context, env *Env, url string, size int32) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("runtime database url: %w", err)
	}
	pcfg.MaxConns = size
	// The runtime URL goes through whatever DATABASE_URL goes through.
	if env.Pooler != nil {
		condo.ConfigurePool(pcfg, env.Pooler.Mode)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("runtime database: %w", err)
	}
	var role string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		pool.Close()
		return nil, fmt.Errorf("runtime database: %w", err)
	}
	if _, err := condo.GrantRuntime(ctx, env.Pool, role, &condo.GrantRuntimeOpts{Tables: a.cfg.RuntimeGrants}); err != nil {
		pool.Close()
		return nil, err
	}
	env.Registry = condo.NewRegistry(env.Pool, env.Migrator, &condo.RegistryConfig{
		Reserved: a.cfg.Reserved, OnTenantCreated: a.cfg.OnTenantCreated, Logger: a.cfg.Logger,
		TenantPool: pool,
	})
	shared, err := condo.SharedRoleName(role)
	if err != nil {
		pool.Close()
		return nil, err
	}
	env.SharedPool = condo.NewSharedPool(pool, shared)
	return pool, nil
}
