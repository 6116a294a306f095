package condotest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// PgBouncerOpts tunes [NewPgBouncer]. A nil *PgBouncerOpts is valid.
type PgBouncerOpts struct {
	// PoolMode is PgBouncer's pool_mode. Defaults to "transaction".
	PoolMode string
	// PoolSize is default_pool_size: server connections per user and
	// database. Defaults to 4.
	PoolSize int
	// Users may connect besides the database's role (PgBouncer's trust
	// authentication still wants every user listed).
	Users []string
}

// PgBouncer is a PgBouncer running in front of the test server, for one
// test, on a loopback port.
type PgBouncer struct {
	// Port is PgBouncer's port on 127.0.0.1.
	Port int
	// URL connects as the database's role to the database through
	// PgBouncer.
	URL string
	db  *Database
}

// URLFor returns a URL that connects as user to the test's database
// through PgBouncer.
func (b *PgBouncer) URLFor(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, b.Port, b.db.Name)
}

// Pool returns a pool through PgBouncer as the database's role, set up by
// [condo.ConfigurePool] for the bouncer's mode (no named statements in
// transaction mode), closed when the test ends. Unlike [Database].Pool it
// sets no search_path on connect: a session-level SET would stay on
// whichever server connection it ran on.
func (b *PgBouncer) Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(b.URL)
	if err != nil {
		t.Fatalf("condotest: pgbouncer pool: %v", err)
	}
	cfg.MaxConns = cmp.Or(maxConns, 8)
	condo.ConfigurePool(cfg, condo.PoolerTransaction)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("condotest: pgbouncer pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewPgBouncer starts PgBouncer (Debian's pgbouncer package) in front of
// the test server for db, with trust authentication, a small pool and
// pool_mode = transaction unless opts say otherwise. When run as root it
// runs as the same unprivileged user as the test server. It is stopped
// when the test ends. The test is skipped when pgbouncer is not installed,
// and fails then when CONDO_REQUIRE_TOOLS is set.
func NewPgBouncer(t testing.TB, db *Database, opts *PgBouncerOpts) *PgBouncer {
	t.Helper()
	if opts == nil {
		opts = &PgBouncerOpts{}
	}
	bin := pgbouncerBinary()
	if bin == "" {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal("condotest: pgbouncer not found (CONDO_REQUIRE_TOOLS is set); install Debian's pgbouncer package")
		}
		t.Skip("condotest: pgbouncer not found; install Debian's pgbouncer package or set CONDO_REQUIRE_TOOLS=1 to fail")
	}
	server, err := pgx.ParseConfig(AdminURL(t))
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	cred, uid, gid, err := pgcluster.RunAs()
	if err != nil {
		t.Fatalf("condotest: pgbouncer: %v", err)
	}
	dir, err := os.MkdirTemp("", "condotest-pgbouncer-")
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("condotest: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	var users strings.Builder
	for _, u := range append([]string{db.Role, server.User}, opts.Users...) {
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
`, server.Host, server.Port, port, filepath.Join(dir, "userlist.txt"), cmp.Or(opts.PoolMode, "transaction"), cmp.Or(opts.PoolSize, 4))
	for name, body := range map[string]string{"userlist.txt": users.String(), "pgbouncer.ini": ini} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatalf("condotest: %v", err)
		}
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("condotest: %v", err)
		}
	}
	var out syncBuffer
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("condotest: start pgbouncer: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM is PgBouncer's immediate shutdown.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	b := &PgBouncer{Port: port, db: db}
	b.URL = b.URLFor(db.Role)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, b.URL)
		if err == nil {
			err = c.Ping(ctx)
			_ = c.Close(ctx)
			if err == nil {
				return b
			}
		}
		select {
		case <-done:
			t.Fatalf("condotest: pgbouncer exited: %s", out.String())
		case <-ctx.Done():
			t.Fatalf("condotest: pgbouncer did not start: %v: %s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func pgbouncerBinary() string {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer a child process and the test can share.
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
