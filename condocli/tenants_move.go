package condocli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// tenantsMoveCmd moves a tenant: between isolation tiers and servers
// (Registry.MoveTier, ResumeMove, RollbackMove) or, on Citus, to another
// node (Registry.Move). It parses and prints; the registry does the work.
func tenantsMoveCmd(c *CLI) *cobra.Command {
	var node, tier, server string
	var resume, rollback bool
	cmd := &cobra.Command{
		Use:   "move SLUG (--tier database|schema [--server NAME] | --resume | --rollback | --node HOST:PORT)",
		Short: "Move a tenant between tiers or servers (copy, verify, switch; writes pause briefly), or to another Citus node",
		Long: `Move a tenant between isolation tiers (README, "Tiers"): --tier database
[--server NAME] gives it a database of its own, --tier schema brings it back
to a schema of the registry's database. Rows are copied while the tenant is
served, then its writes pause for the last changes and a verification (row
counts and checksums) and the registry switches. The old copy is kept,
fenced, for the grace period (serve's --move-grace; tenants cleanup-moves).
A move that was killed resumes with --resume or is undone with --rollback
(after the switch, --rollback moves the tenant back).

On Citus, --node moves the tenant's schema to another node instead.`,
		Args: Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			slug, out := args[0], cmd.OutOrStdout()
			n := 0
			for _, set := range []bool{node != "", tier != "", resume, rollback} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errors.New("want exactly one of --tier, --resume, --rollback and --node")
			}
			if server != "" && tier == "" {
				return errors.New("--server goes with --tier database")
			}
			opts := &condo.MoveTierOpts{Progress: func(p condo.MoveProgress) { printMoveProgress(out, slug, p) }}
			switch {
			case node != "":
				to, err := parseNode(node)
				if err != nil {
					return err
				}
				if err := st.Registry.Move(ctx, slug, to); err != nil {
					return err
				}
				fmt.Fprintf(out, "moved %s to %s\n", slug, to)
				return nil
			case rollback:
				if err := st.Registry.RollbackMove(ctx, slug, opts); err != nil {
					return err
				}
				fmt.Fprintf(out, "rolled back the move of %s\n", slug)
				return nil
			}
			var res *condo.MoveTierResult
			var err error
			if resume {
				res, err = st.Registry.ResumeMove(ctx, slug, opts)
			} else {
				switch condo.Tier(tier) {
				case condo.TierDatabase, condo.TierSchema:
				default:
					return fmt.Errorf("--tier: want database or schema, got %q", tier)
				}
				res, err = st.Registry.MoveTier(ctx, slug, condo.Tier(tier), server, opts)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "moved %s to %s in %s (write pause %s); old copy (%s) kept until the grace period ends\n",
				slug, res.Move.To, res.Duration.Round(time.Millisecond), res.WritePause.Round(time.Millisecond), res.Move.From)
			return nil
		}),
	}
	cmd.Flags().StringVar(&node, "node", "", "Citus: the target node, as the cluster names it (pg_dist_node): HOST:PORT")
	cmd.Flags().StringVar(&tier, "tier", "", "the target tier: database or schema")
	cmd.Flags().StringVar(&server, "server", "", "with --tier database: the server (a name from --servers-file / CONDO_SERVERS); default the registry's")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue the tenant's move from its recorded phase")
	cmd.Flags().BoolVar(&rollback, "rollback", false, "undo the tenant's move (after the switch: move it back)")
	return cmd
}

func printMoveProgress(w io.Writer, slug string, p condo.MoveProgress) {
	d := p.Duration.Round(time.Millisecond)
	switch p.Phase {
	case condo.MovePrepared:
		fmt.Fprintf(w, "%s: prepared (target made, changes captured) in %s\n", slug, d)
	case condo.MoveCopied:
		fmt.Fprintf(w, "%s: copied %d rows in %s\n", slug, p.Rows, d)
	case condo.MoveSwitched:
		fmt.Fprintf(w, "%s: switched in %s: %d changes applied during a write pause of %s\n", slug, d, p.Rows, p.WritePause.Round(time.Millisecond))
	default:
		fmt.Fprintf(w, "%s: %s in %s\n", slug, p.Phase, d)
	}
}

// tenantsCleanupMovesCmd drops the fenced old copies of moves switched
// longer ago than the grace period (serve does it in the background too).
func tenantsCleanupMovesCmd(c *CLI) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "cleanup-moves [--grace 24h]",
		Short: "Drop the old copies of tenants moved between tiers longer ago than the grace period",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			if grace < 0 {
				return fmt.Errorf("--grace: want 0 or more, got %s", grace)
			}
			done, err := st.Registry.CleanupMoves(ctx, grace)
			for _, m := range done {
				fmt.Fprintf(cmd.OutOrStdout(), "dropped the old copy of %s (%s)\n", m.Slug, m.From)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s cleaned up\n", plural(len(done), "move"))
			return nil
		}),
	}
	cmd.Flags().DurationVar(&grace, "grace", condo.DefaultMoveGrace, "keep the old copies of moves switched less than this long ago")
	return cmd
}
