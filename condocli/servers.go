package condocli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ServersEnv is the environment variable that lists the servers of the
// database tier when no --servers-file is given, in the file's format.
const ServersEnv = "CONDO_SERVERS"

// loadServers reads the database tier's servers (name → URL) from file,
// else from $CONDO_SERVERS; nil when neither is set. Credentials never
// come from flags, which other users of the machine can read.
func (c *CLI) loadServers() (map[string]string, error) {
	if c.serversFile != "" {
		b, err := os.ReadFile(c.serversFile)
		if err != nil {
			return nil, fmt.Errorf("servers file: %w", err)
		}
		servers, err := ParseServers(string(b))
		if err != nil {
			return nil, fmt.Errorf("servers file %s: %w", c.serversFile, err)
		}
		return servers, nil
	}
	if v := c.cfg.Getenv(ServersEnv); v != "" {
		servers, err := ParseServers(v)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", ServersEnv, err)
		}
		return servers, nil
	}
	return nil, nil
}

// ParseServers parses a list of servers: a JSON object of name → URL, or
// lines of name=URL (blank lines and lines starting with # are skipped;
// a line may also be separated by ';' in an environment variable). Errors
// name the line and the server, never the URL, which holds a password.
func ParseServers(s string) (map[string]string, error) {
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			// json's errors quote offsets and types, not values.
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("not valid JSON at byte %d", se.Offset)
			}
			return nil, errors.New("want a JSON object of server name to URL")
		}
		for name, url := range m {
			if err := checkServer(name, url); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(s, ";", "\n")))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, url, ok := strings.Cut(line, "=")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		if !ok {
			return nil, fmt.Errorf("line %d: want name=postgres://…", n)
		}
		if err := checkServer(name, url); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: server %q given twice", n, name)
		}
		out[name] = url
	}
	return out, sc.Err()
}

func checkServer(name, url string) error {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		return fmt.Errorf("server name %q: want [a-z0-9_-]", name)
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return fmt.Errorf("server %q: want a postgres:// URL", name)
	}
	if _, err := pgconn.ParseConfig(url); err != nil {
		return fmt.Errorf("server %q: not a valid PostgreSQL URL", name)
	}
	return nil
}
