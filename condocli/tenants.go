package condocli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condostack"
)

func newTenantsCmd(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tenants",
		Aliases: []string{"tenant"},
		Short:   "Create, list, change and delete tenants",
	}
	cmd.AddCommand(
		tenantsCreateCmd(c), tenantsListCmd(c), tenantsShowCmd(c), tenantsUpdateCmd(c),
		tenantsStatusCmd(c, "suspend", "Stop serving a tenant (its data is kept)", (*condo.Registry).Suspend),
		tenantsStatusCmd(c, "resume", "Serve a suspended tenant again", (*condo.Registry).Resume),
		tenantsStatusCmd(c, "restore", "Bring back a deleted (not purged) tenant", (*condo.Registry).Restore),
		tenantsRenameCmd(c), tenantsDomainsCmd(c), tenantsDeleteCmd(c),
		tenantsExportCmd(c), tenantsImportCmd(c), tenantsExecCmd(c),
		tenantsMoveCmd(c), tenantsCleanupMovesCmd(c), tenantsNodesCmd(c), tenantsRebalanceCmd(c),
		tenantsPendingCmd(c),
		tenantsReserveCmd(c),
	)
	return cmd
}

func parseDate(flag, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil, fmt.Errorf("--%s: want a date like 2027-01-31, got %q", flag, s)
	}
	return &d, nil
}

func tenantsCreateCmd(c *CLI) *cobra.Command {
	var (
		name, paidUntil string
		domains         []string
		trial, asJSON   bool
		tier, server    string
	)
	cmd := &cobra.Command{
		Use:   "create SLUG --name NAME [--tier database [--server NAME]]",
		Short: "Create a tenant: registry row, domains, schema, role and migrations, atomically",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			paid, err := parseDate("paid-until", paidUntil)
			if err != nil {
				return err
			}
			if name == "" {
				return errors.New("--name is required")
			}
			t, err := st.Registry.Create(ctx, condo.CreateParams{Slug: args[0], Name: name, Domains: domains, PaidUntil: paid, OnTrial: trial,
				Tier: condo.Tier(tier), Server: server})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), tenantView(t))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created tenant %s (schema %s, migration %d)\n", t.Slug, t.Schema, t.MigrationVersion)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "display name (required)")
	f.StringArrayVar(&domains, "domain", nil, "custom domain; repeat for more, the first is primary")
	f.StringVar(&paidUntil, "paid-until", "", "paid until this date (YYYY-MM-DD)")
	f.BoolVar(&trial, "trial", false, "tenant is on trial")
	f.BoolVar(&asJSON, "json", false, "print the tenant as JSON")
	f.StringVar(&tier, "tier", "schema", "schema (a schema of the registry's database) or database (a database of its own)")
	f.StringVar(&server, "server", "", "with --tier database: the server, one of --servers-file or $"+ServersEnv+" (default: the registry's)")
	return cmd
}

// tenantJSON is the stable JSON shape of a tenant on the command line.
type tenantJSON struct {
	ID               int64          `json:"id"`
	Slug             string         `json:"slug"`
	Name             string         `json:"name"`
	Schema           string         `json:"schema"`
	Role             string         `json:"role"`
	Status           condo.Status   `json:"status"`
	PaidUntil        *string        `json:"paid_until"`
	OnTrial          bool           `json:"on_trial"`
	CreatedOn        string         `json:"created_on"`
	MigrationVersion int64          `json:"migration_version"`
	Domains          []condo.Domain `json:"domains"`
	// Node is where the tenant's schema lives on Citus ("" elsewhere, or
	// when it is not distributed).
	Node string `json:"node,omitempty"`
	// Tier, Server and Database: see condo.Tenant; Server is "main" for
	// a database-tier tenant on the registry's server, as tenants list
	// prints it, and absent in the schema tier.
	Tier     condo.Tier `json:"tier"`
	Server   string     `json:"server,omitempty"`
	Database string     `json:"database,omitempty"`
}

func tenantView(t *condo.Tenant) tenantJSON {
	v := tenantJSON{ID: t.ID, Slug: t.Slug, Name: t.Name, Schema: t.Schema, Role: t.Role, Status: t.Status,
		OnTrial: t.OnTrial, CreatedOn: t.CreatedOn.Format(time.DateOnly), MigrationVersion: t.MigrationVersion, Domains: t.Domains,
		Tier: t.Tier, Server: t.Server, Database: t.Database}
	if t.Tier == condo.TierDatabase {
		v.Server = cmp.Or(t.Server, condo.MainServer)
	}
	if t.PaidUntil != nil {
		s := t.PaidUntil.Format(time.DateOnly)
		v.PaidUntil = &s
	}
	if v.Domains == nil {
		v.Domains = []condo.Domain{}
	}
	return v
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func tenantsListCmd(c *CLI) *cobra.Command {
	var (
		p                  condo.ListParams
		status, paidBefore string
		trial, asJSON, all bool
		noTrial, pending   bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			p.Status = condo.Status(status)
			p.AllStatuses = all
			switch p.Status {
			case "", condo.StatusActive, condo.StatusSuspended, condo.StatusDeleted, condo.StatusPending:
			default:
				return fmt.Errorf("--status: want active, suspended, deleted or pending, got %q", status)
			}
			if pending {
				if status != "" || all {
					return errors.New("--pending excludes --status and --all")
				}
				p.Status = condo.StatusPending
			}
			if trial && noTrial {
				return errors.New("--trial and --no-trial exclude each other")
			}
			if trial || noTrial {
				p.OnTrial = &trial
			}
			var err error
			if p.PaidBefore, err = parseDate("paid-before", paidBefore); err != nil {
				return err
			}
			var all []tenantJSON
			onCitus := true
			for {
				page, err := st.Registry.List(ctx, p)
				if err != nil {
					return err
				}
				// On Citus each tenant's node is a column (one query a page).
				var nodes map[string]condo.Node
				if onCitus {
					nodes, err = st.Registry.Nodes(ctx, page.Tenants)
					if errors.Is(err, condo.ErrNotCitus) {
						onCitus = false
					} else if err != nil {
						return err
					}
				}
				for _, t := range page.Tenants {
					v := tenantView(t)
					if n, ok := nodes[t.Schema]; ok {
						v.Node = n.String()
					}
					all = append(all, v)
				}
				if page.Next == "" || p.Limit > 0 {
					break
				}
				p.After = page.Next
			}
			if asJSON {
				if all == nil {
					all = []tenantJSON{}
				}
				return printJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			head := "SLUG\tNAME\tSTATUS\tPAID UNTIL\tTRIAL\tCREATED\tSCHEMA\tTIER\tSERVER\tDOMAINS"
			if onCitus {
				head += "\tNODE"
			}
			fmt.Fprintln(tw, head)
			for _, t := range all {
				paid := "-"
				if t.PaidUntil != nil {
					paid = *t.PaidUntil
				}
				hosts := make([]string, len(t.Domains))
				for i, d := range t.Domains {
					hosts[i] = d.Host
				}
				server := "-"
				if t.Tier == condo.TierDatabase {
					server = cmp.Or(t.Server, condo.MainServer)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s", t.Slug, t.Name, t.Status, paid, t.OnTrial, t.CreatedOn, t.Schema,
					t.Tier, server, strings.Join(hosts, ","))
				if onCitus {
					fmt.Fprintf(tw, "\t%s", cmp.Or(t.Node, "-"))
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only tenants in this status (active, suspended, deleted, pending)")
	f.BoolVar(&all, "all", false, "include deleted tenants")
	f.BoolVar(&pending, "pending", false, "only pending tenants (ready-made, not yet claimed by a signup; hidden otherwise)")
	f.BoolVar(&trial, "trial", false, "only tenants on trial")
	f.BoolVar(&noTrial, "no-trial", false, "only tenants not on trial")
	f.StringVar(&paidBefore, "paid-before", "", "only tenants paid until before this date (or never)")
	f.StringVar(&p.Search, "search", "", "match slug, name or domain")
	f.IntVar(&p.Limit, "limit", 0, "at most this many (default: all)")
	f.StringVar(&p.After, "after", "", "start after this slug")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func tenantsShowCmd(c *CLI) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SLUG",
		Short: "Show one tenant",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			t, err := st.Registry.Get(ctx, args[0])
			if err != nil {
				return err
			}
			v := tenantView(t)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			paid := "-"
			if v.PaidUntil != nil {
				paid = *v.PaidUntil
			}
			fmt.Fprintf(tw, "slug:\t%s\nname:\t%s\nstatus:\t%s\nschema:\t%s\nrole:\t%s\npaid until:\t%s\non trial:\t%v\ncreated on:\t%s\nmigration:\t%d\n",
				v.Slug, v.Name, v.Status, v.Schema, v.Role, paid, v.OnTrial, v.CreatedOn, v.MigrationVersion)
			fmt.Fprintf(tw, "tier:\t%s\n", v.Tier)
			if t.Tier == condo.TierDatabase {
				fmt.Fprintf(tw, "server:\t%s\ndatabase:\t%s\n", cmp.Or(t.Server, condo.MainServer), t.Database)
			}
			for _, d := range v.Domains {
				flags := ""
				if d.Primary {
					flags += " primary"
				}
				if !d.Verified {
					flags += " unverified (token " + d.VerifyToken + ")"
				}
				fmt.Fprintf(tw, "domain:\t%s%s\n", d.Host, flags)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func tenantsUpdateCmd(c *CLI) *cobra.Command {
	var (
		name, paidUntil string
		trial           bool
		clearPaid       bool
	)
	cmd := &cobra.Command{
		Use:   "update SLUG [--name N] [--paid-until DATE] [--trial=true|false]",
		Short: "Change a tenant's name, paid-until date or trial flag",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			var p condo.UpdateParams
			if cmd.Flags().Changed("name") {
				p.Name = &name
			}
			paid, err := parseDate("paid-until", paidUntil)
			if err != nil {
				return err
			}
			p.PaidUntil, p.ClearPaidUntil = paid, clearPaid
			if cmd.Flags().Changed("trial") {
				p.OnTrial = &trial
			}
			t, err := st.Registry.Update(ctx, args[0], p)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated tenant %s\n", t.Slug)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new display name")
	f.StringVar(&paidUntil, "paid-until", "", "paid until this date (YYYY-MM-DD)")
	f.BoolVar(&clearPaid, "clear-paid-until", false, "remove the paid-until date")
	f.BoolVar(&trial, "trial", false, "on trial")
	return cmd
}

func tenantsStatusCmd(c *CLI, verb, short string, fn func(*condo.Registry, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " SLUG",
		Short: short,
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			if err := fn(st.Registry, ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s done\n", args[0], verb)
			return nil
		}),
	}
}

func tenantsRenameCmd(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename OLD NEW",
		Short: "Change a tenant's slug (its subdomain); data stays in place",
		Args:  Args("OLD", "NEW"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			if err := st.Registry.Rename(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "renamed %s to %s\n", args[0], args[1])
			return nil
		}),
	}
}

func tenantsDomainsCmd(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Manage a tenant's custom domains"}
	var primary, unverified bool
	add := &cobra.Command{
		Use:   "add SLUG HOST",
		Short: "Add a custom domain",
		Args:  Args("SLUG", "HOST"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			d, err := st.Registry.AddDomain(ctx, args[0], args[1], &condo.DomainOpts{Primary: primary, Unverified: unverified})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s to %s\n", d.Host, args[0])
			if !d.Verified {
				name, value := condocert.VerificationRecord(d.Host, d.VerifyToken)
				fmt.Fprintf(cmd.OutOrStdout(), "unverified: publish the DNS record %s TXT %q (or point the domain here, which answers %s),\nthen run: domains verify %s %s\n",
					name, value, condocert.VerificationURL(d.Host, d.VerifyToken), args[0], d.Host)
			}
			return nil
		}),
	}
	add.Flags().BoolVar(&primary, "primary", false, "make it the primary domain")
	add.Flags().BoolVar(&unverified, "unverified", false, "require the owner to prove control before it is served")
	two := func(use, short string, fn func(*condo.Registry, context.Context, string, string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: Args("SLUG", "HOST"),
			RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
				if err := fn(st.Registry, ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: done\n", args[0], args[1])
				return nil
			}),
		}
	}
	var dnsOnly bool
	verify := &cobra.Command{
		Use:   "verify SLUG HOST",
		Short: "Check the ownership proof of an unverified domain (DNS TXT record, then HTTP token) and mark it verified",
		Args:  Args("SLUG", "HOST"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			res, err := condocert.VerifyDomain(ctx, st.Registry, args[1], &condocert.VerifyOpts{SkipHTTP: dnsOnly, Tenant: args[0]})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s verified by %s\n", res.Host, res.Method)
			return nil
		}),
	}
	verify.Flags().BoolVar(&dnsOnly, "dns-only", false, "check only the DNS TXT record")
	cmd.AddCommand(add, verify,
		two("remove SLUG HOST", "Remove a custom domain", (*condo.Registry).RemoveDomain),
		two("primary SLUG HOST", "Make a domain the primary one", (*condo.Registry).SetPrimaryDomain),
	)
	return cmd
}

func tenantsDeleteCmd(c *CLI) *cobra.Command {
	var purge, yes bool
	cmd := &cobra.Command{
		Use:   "delete SLUG [--purge] [--yes]",
		Short: "Delete a tenant (kept until --purge drops its schema, role and rows)",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			slug := args[0]
			if purge && !yes {
				// Purging is forever: ask for the slug to be typed, as the
				// admin page does.
				f, ok := c.cfg.Stdin.(*os.File)
				if !ok || !isTerminal(f) {
					return errors.New("purge deletes the tenant's data for good: pass --yes to confirm")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "This drops schema, role and data of %q for good. Type the slug to confirm: ", slug)
				line, _ := bufio.NewReader(c.cfg.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != slug {
					return errors.New("not confirmed; nothing deleted")
				}
			}
			if err := st.Registry.Delete(ctx, slug, &condo.DeleteOpts{Purge: purge}); err != nil {
				return err
			}
			if purge {
				fmt.Fprintf(cmd.OutOrStdout(), "purged tenant %s\n", slug)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted tenant %s (data kept; `tenants restore` undoes, `tenants delete --purge` removes it)\n", slug)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "drop the schema, role and registry rows for good")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func tenantsExportCmd(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "export SLUG FILE",
		Short: "Write one tenant's schema version and data to a file (- for stdout)",
		Args:  Args("SLUG", "FILE"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			w := cmd.OutOrStdout()
			var f *os.File
			if args[1] != "-" {
				var err error
				// Write to a temporary file and rename, so a failed export never
				// leaves a truncated file that looks complete.
				if f, err = os.CreateTemp(dirOf(args[1]), ".condo-export-*"); err != nil {
					return err
				}
				defer os.Remove(f.Name())
				defer f.Close()
				w = f
			}
			if err := st.Registry.Export(ctx, args[0], w); err != nil {
				return err
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return err
				}
				if err := os.Rename(f.Name(), args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %s to %s\n", args[0], args[1])
			}
			return nil
		}),
	}
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return "."
}

func tenantsImportCmd(c *CLI) *cobra.Command {
	var name, tier, server string
	cmd := &cobra.Command{
		Use:   "import FILE SLUG [--tier database [--server NAME]]",
		Short: "Create a new tenant from an export file (- for stdin)",
		Args:  Args("FILE", "SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			var r io.Reader = c.cfg.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			t, err := st.Registry.Import(ctx, r, condo.ImportParams{Slug: args[1], Name: name, Tier: condo.Tier(tier), Server: server})
			if err != nil {
				return err
			}
			where := ""
			if t.Tier == condo.TierDatabase {
				where = ", database " + t.Database
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported tenant %s (schema %s%s, migration %d)\n", t.Slug, t.Schema, where, t.MigrationVersion)
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the exported one)")
	cmd.Flags().StringVar(&tier, "tier", "schema", "schema (a schema of the registry's database) or database (a database of its own), whatever the exported tenant's was")
	cmd.Flags().StringVar(&server, "server", "", "with --tier database: the server, one of --servers-file or $"+ServersEnv+" (default: the registry's)")
	return cmd
}

func tenantsExecCmd(c *CLI) *cobra.Command {
	var sql string
	cmd := &cobra.Command{
		Use:   `exec SLUG --sql "SELECT ..."`,
		Short: "Run one SQL statement in the tenant's transaction and role, and print the rows",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			if strings.TrimSpace(sql) == "" {
				return errors.New("--sql is required")
			}
			return st.Registry.InTxBySlug(ctx, args[0], func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, sql)
				if err != nil {
					return err
				}
				defer rows.Close()
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fds := rows.FieldDescriptions()
				if len(fds) > 0 {
					names := make([]string, len(fds))
					for i, fd := range fds {
						names[i] = fd.Name
					}
					fmt.Fprintln(tw, strings.Join(names, "\t"))
				}
				n := 0
				for rows.Next() {
					vals, err := rows.Values()
					if err != nil {
						return err
					}
					cells := make([]string, len(vals))
					for i, v := range vals {
						if v == nil {
							cells[i] = "NULL"
						} else {
							cells[i] = fmt.Sprint(v)
						}
					}
					fmt.Fprintln(tw, strings.Join(cells, "\t"))
					n++
				}
				if err := rows.Err(); err != nil {
					return err
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(fds) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "(%d rows)\n", n)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), rows.CommandTag().String())
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&sql, "sql", "", "the statement")
	return cmd
}
