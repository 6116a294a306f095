package condostack

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
)

// servers parses [Config].Servers for the registry, adding the main server
// on the direct connection when the stack's pool goes through a pooler.
// Errors name the server, never its URL (it holds a password).
func (s *Stack) servers() (map[string]*pgxpool.Config, error) {
	out := map[string]*pgxpool.Config{}
	for name, url := range s.cfg.Servers {
		if name == "" {
			return nil, fmt.Errorf("servers: a server without a name")
		}
		pc, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("servers: server %q: not a PostgreSQL URL", name)
		}
		out[name] = pc
	}
	if out[condo.MainServer] == nil && s.Direct != nil && s.Direct != s.Pool {
		out[condo.MainServer] = s.Direct.Config()
	}
	return out, nil
}
