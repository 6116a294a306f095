package condocli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// ErrUnknownCommand is returned for a subcommand that does not exist.
var ErrUnknownCommand = errors.New("unknown command")

// Args returns a [cobra.PositionalArgs] that wants exactly the named
// arguments and names the missing one ("missing SLUG") instead of
// cobra's "accepts 2 arg(s), received 1".
func Args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return fmt.Errorf("missing %s (usage: %s)", strings.Join(names[len(args):], " "), cmd.UseLine())
		case len(args) > len(names):
			return fmt.Errorf("too many arguments: want %s, got %d (usage: %s)", strings.Join(names, " "), len(args), cmd.UseLine())
		}
		return nil
	}
}

// strictTree makes every command that only groups others (tenants,
// certs, …) refuse an unknown subcommand with an error, and so a
// non-zero exit, where cobra would print help and succeed; and makes
// every command of the tree release the database when it fails, since
// cobra runs PersistentPostRun only after a success.
func strictTree(c *CLI, cmd *cobra.Command) {
	if cmd.RunE == nil && cmd.Run == nil && cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("%q for %q", args[0], cmd.CommandPath())
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return fmt.Errorf("%w %s (see %s --help)", ErrUnknownCommand, msg, cmd.CommandPath())
		}
	}
	if run := cmd.RunE; run != nil && c != nil && cmd.Annotations[closeWrapped] == "" {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[closeWrapped] = "1"
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if err != nil {
				c.Close()
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		strictTree(c, sub)
	}
}

// closeWrapped marks a command whose RunE strictTree wrapped already.
const closeWrapped = "condocli.close-on-error"
