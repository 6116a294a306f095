// Package pgbouncer runs PgBouncer (Debian's pgbouncer package) as a
// child process in front of a PostgreSQL server, on a loopback port, for
// tests (condotest) and the bench harness. As root it runs as the same
// unprivileged user as internal/pgcluster's server, and it gets a
// parent-death signal, so no PgBouncer outlives its owner.
package pgbouncer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// ErrNotFound is returned by [Start] when the pgbouncer binary is missing.
var ErrNotFound = errors.New("pgbouncer not found: install it, e.g. `apt-get install pgbouncer` on Debian/Ubuntu")

// Config says how to run PgBouncer.
type Config struct {
	// Dir holds the configuration files; it is created, handed to the
	// server's user when we are root, and left for the caller to remove.
	Dir string
	// ServerHost and ServerPort are PostgreSQL's address.
	ServerHost string
	ServerPort int
	// PoolMode is pool_mode. Defaults to "transaction".
	PoolMode string
	// PoolSize is default_pool_size. Defaults to 4.
	PoolSize int
	// Users may connect (trust authentication still wants them listed).
	Users []string
}

// Bouncer is a running PgBouncer.
type Bouncer struct {
	// Port is PgBouncer's port on 127.0.0.1.
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// Binary returns the path of pgbouncer, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return ""
}

// Start writes the configuration into cfg.Dir and starts PgBouncer, with
// trust authentication and every database of the server behind it. It
// returns once PgBouncer accepts TCP connections. Returns [ErrNotFound].
func Start(ctx context.Context, cfg Config) (*Bouncer, error) {
	bin := Binary()
	if bin == "" {
		return nil, ErrNotFound
	}
	cred, uid, gid, err := pgcluster.RunAs()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	var users strings.Builder
	for _, u := range cfg.Users {
		fmt.Fprintf(&users, "%q \"\"\n", u)
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
`, cfg.ServerHost, cfg.ServerPort, port, filepath.Join(cfg.Dir, "userlist.txt"), cmp.Or(cfg.PoolMode, "transaction"), cmp.Or(cfg.PoolSize, 4))
	for name, body := range map[string]string{"userlist.txt": users.String(), "pgbouncer.ini": ini} {
		if err := os.WriteFile(filepath.Join(cfg.Dir, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	if cred != nil {
		if err := os.Chown(cfg.Dir, uid, gid); err != nil {
			return nil, err
		}
	}
	b := &Bouncer{Port: port, done: make(chan struct{}), out: &syncBuffer{}}
	b.cmd = exec.Command(bin, filepath.Join(cfg.Dir, "pgbouncer.ini"))
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("pgbouncer exited: %s", b.out.String())
		case <-ctx.Done():
			b.Stop()
			return nil, fmt.Errorf("pgbouncer did not start: %w: %s", ctx.Err(), b.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL returns a connection string for database db as user through
// PgBouncer.
func (b *Bouncer) URL(user, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, b.Port, db)
}

// Pid is PgBouncer's process id.
func (b *Bouncer) Pid() int { return b.cmd.Process.Pid }

// Output is what PgBouncer logged so far.
func (b *Bouncer) Output() string { return b.out.String() }

// Stop shuts PgBouncer down (SIGTERM, its immediate shutdown) and waits
// for it to exit.
func (b *Bouncer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// syncBuffer is a bytes.Buffer a child process and its owner can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
