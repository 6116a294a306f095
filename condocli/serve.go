package condocli

import (
	"errors"

	"github.com/spf13/cobra"
)

// ServeConfig configures the serve command: the application's handlers.
// (Placeholder until the HTTP edge lands; its owner replaces this file.)
type ServeConfig struct{}

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP(S) server",
		RunE:  func(*cobra.Command, []string) error { return errors.New("serve: not built yet") },
	}
}
