package condocli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the HTTP edge lands; its owner replaces this file.
func newProxyConfigCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "proxy-config nginx|apache",
		Short: "Print a reverse-proxy configuration for a wildcard domain",
		RunE:  func(*cobra.Command, []string) error { return errors.New("proxy-config: not built yet") },
	}
}
