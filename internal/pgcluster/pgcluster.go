// Package pgcluster runs a private PostgreSQL server: initdb once into a
// data directory, then postgres as a child process on a loopback port.
//
// It is used by condotest (one throwaway cluster per test process) and by
// the reference app's dev command (a cluster under a state folder, reused
// from run to run). PostgreSQL refuses to run as root, so when the current
// user is root the server runs as the "postgres" user when it exists, else
// as "nobody", and the data directory is handed to that user.
//
// The server is started as a direct child with a parent-death signal rather
// than daemonised with pg_ctl: when the owning process dies for any reason,
// the kernel stops the server too, so no postgres is ever left behind.
//
// # Which PostgreSQL
//
// The server binaries come from [Config.BinDir] when set, else from the
// directory named by the CONDO_PG_BIN environment variable (so one test
// suite runs on PostgreSQL 15 from Debian and on 18 from elsewhere without
// a code change), else from PATH, else from Debian's
// /usr/lib/postgresql/<version>/bin, newest version first. When running as
// root, that directory must be readable and executable by the user
// PostgreSQL runs as (under /tmp or /opt is fine, under /root is not).
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres is returned by [Start] when the PostgreSQL server binaries
// (initdb, postgres) cannot be found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found: install them, e.g. `apt-get install postgresql` on Debian/Ubuntu or `brew install postgresql` on macOS, or set CONDO_PG_BIN to their directory")

// BinDirEnv names the environment variable that chooses the directory of the
// server binaries (initdb, postgres), e.g. /opt/condo/pg18/native/bin.
const BinDirEnv = "CONDO_PG_BIN"

// ErrAlreadyRunning is matched (errors.Is) by the [*RunningError] that
// [Start] returns when a server already runs on the directory.
var ErrAlreadyRunning = errors.New("PostgreSQL server already running")

// RunningError says that a live server already uses a cluster directory.
type RunningError struct {
	Dir  string
	PID  int
	Port int
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("PostgreSQL in %s is already running, pid %d, port %d", e.Dir, e.PID, e.Port)
}

// Is makes errors.Is(err, ErrAlreadyRunning) true.
func (e *RunningError) Is(target error) bool { return target == ErrAlreadyRunning }

// Running reports the pid and port of the postgres server running on the
// cluster in dir (as made by [Start]), read from its postmaster.pid. It
// returns zeros and no error when there is no pid file or the process in it
// is gone (a stale file), and an error only when the file cannot be read.
func Running(dir string) (pid, port int, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read pid file: %w", err)
	}
	// Line 1 is the pid, line 4 the port (PostgreSQL's pidfile.h).
	lines := strings.Split(string(b), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0, 0, nil
	}
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return pid, port, nil
}

// alive reports whether pid is a live process that could be a postgres
// server. Where /proc exists, a pid reused by another program after a
// crash does not count.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true // no /proc: trust kill(2)
	}
	return strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres")
}

// Config says where and how to run the cluster.
type Config struct {
	// Dir is the directory holding the data directory ("data"), the socket and
	// the log. It is created when missing and reused when it already holds a
	// cluster.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free port.
	Port int
	// Fast turns off fsync and full-page writes: for throwaway test clusters
	// only, where losing data on a crash does not matter.
	Fast bool
	// Settings are extra postgresql.conf settings passed with -c.
	Settings map[string]string
	// BinDir is the directory holding initdb and postgres. Defaults to
	// [FindBinDir]'s answer.
	BinDir string
	// HBA, when set, are the lines of the client authentication file
	// (pg_hba.conf) the server reads instead of initdb's, which trusts
	// every local connection: e.g. a test requiring scram-sha-256 for
	// some roles. Written beside the data directory at every start.
	HBA []string
}

// Cluster is a running server.
type Cluster struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	cfg  Config // as started, for Restart
}

// Superuser is the name of the bootstrap superuser of clusters made here.
const Superuser = "postgres"

// FindBinDir returns the directory holding initdb and postgres: the one
// named by $CONDO_PG_BIN, else from PATH, else from Debian's
// /usr/lib/postgresql/<version>/bin (newest first). A CONDO_PG_BIN without
// both binaries is an error rather than a silent fall back to another
// version: a run meant for PostgreSQL 18 must not pass on 15.
func FindBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return checkBinDir(dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestV := "", -1
	for _, m := range matches {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best == "" {
		return "", ErrNoPostgres
	}
	return best, nil
}

// checkBinDir returns dir, made absolute, when it holds executable initdb
// and postgres files.
func checkBinDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", BinDirEnv, err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(abs, name))
		if err != nil {
			return "", fmt.Errorf("PostgreSQL bin directory %s: %w: %w", abs, err, ErrNoPostgres)
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("PostgreSQL bin directory %s: %s is not executable: %w", abs, name, ErrNoPostgres)
		}
	}
	return abs, nil
}

// Start initialises the cluster in cfg.Dir when needed and starts the
// server. It returns when the server accepts connections.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	var bin string
	var err error
	if cfg.BinDir != "" {
		bin, err = checkBinDir(cfg.BinDir)
	} else {
		bin, err = FindBinDir()
	}
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("hand cluster dir to uid %d: %w", uid, err)
		}
		if err := checkTraversable("cluster dir", dir, uid, "choose a state directory outside it"); err != nil {
			return nil, err
		}
		// The binaries (and the libraries beside them) must be reachable by
		// that user too: an unpacked PostgreSQL under /root is not.
		if err := checkTraversable("PostgreSQL binaries", filepath.Join(bin, "postgres"), uid, "install them outside it"); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		_ = os.RemoveAll(data) // a half-made data dir from an interrupted initdb
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", data, "-U", Superuser, "-A", "trust", "-E", "UTF8",
			"--locale=C", "--no-instructions", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(out, 5))
		}
	} else if err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	// A server that died without cleaning up leaves its pid file. It is
	// stale only when no postgres runs under that pid any more; a live one
	// belongs to another process (a second command on the same state
	// folder), and starting a second server would fail or, worse, race it.
	if pid, port, err := Running(dir); err != nil {
		return nil, err
	} else if pid != 0 {
		return nil, &RunningError{Dir: dir, PID: pid, Port: port}
	}
	_ = os.Remove(filepath.Join(data, "postmaster.pid"))

	// A free port is free only a moment ago: another test process starting
	// its own server may take it first. A server that could not bind a
	// port Condo chose is started again on another, twice at most.
	for attempt := 0; ; attempt++ {
		port := cfg.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		c, logged, err := startServer(ctx, bin, dir, data, port, cfg)
		if err == nil {
			return c, nil
		}
		if cfg.Port != 0 || attempt == 2 || !strings.Contains(logged, "Address already in use") {
			return nil, err
		}
	}
}

// startServer starts postgres on port and waits for it to accept
// connections. On failure it returns what the server logged meanwhile.
func startServer(ctx context.Context, bin, dir, data string, port int, cfg Config) (*Cluster, string, error) {
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("cluster log: %w", err)
	}
	var from int64
	if fi, err := logf.Stat(); err == nil {
		from = fi.Size()
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir,
		"-c", "max_connections=300", "-c", "shared_buffers=128MB",
		"-c", "max_locks_per_transaction=256"}
	if cfg.Fast {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	}
	for k, v := range cfg.Settings {
		args = append(args, "-c", k+"="+v)
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		logf.Close()
		return nil, "", err
	}
	if cfg.HBA != nil {
		hba := filepath.Join(dir, "pg_hba.conf")
		if err := writeHBA(hba, cfg.HBA, cred != nil, uid, gid); err != nil {
			logf.Close()
			return nil, "", err
		}
		args = append(args, "-c", "hba_file="+hba)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig SIGQUIT: immediate shutdown if we die; Setpgid keeps a
	// terminal's Ctrl-C away from the server so we can stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("start postgres: %w", err)
	}
	cfg.Dir, cfg.Port = dir, port
	c := &Cluster{dir: dir, port: port, cmd: cmd, done: make(chan struct{}), log: logf, cfg: cfg}
	go func() { _ = cmd.Wait(); close(c.done) }()
	if err := c.waitReady(ctx, 30*time.Second); err != nil {
		c.Stop()
		out, _ := os.ReadFile(logPath)
		if from <= int64(len(out)) {
			out = out[from:]
		}
		return nil, string(out), fmt.Errorf("postgres did not start: %w: %s", err, lastLines(out, 10))
	}
	return c, "", nil
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL returns a connection string for database db as user.
func (c *Cluster) URL(userName, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", userName, c.port, db)
}

// Stop shuts the server down (fast shutdown, then immediate after 10 s) and
// waits for it to exit.
func (c *Cluster) Stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		<-c.done
	}
	c.log.Close()
}

// ShutdownMode is how [Cluster.Shutdown] stops the server (PostgreSQL's
// shutdown modes, see pg_ctl stop -m).
type ShutdownMode int

// Shutdown modes.
const (
	// Fast (SIGINT) rolls back open transactions, disconnects the clients
	// (admin_shutdown, 57P01), writes a checkpoint and exits.
	Fast ShutdownMode = iota
	// Immediate (SIGQUIT) kills every backend at once, like a crash; the
	// next start replays the write-ahead log.
	Immediate
)

// Shutdown stops the server in mode and waits for it to exit; unlike Stop
// it leaves the cluster ready for [Cluster.Restart]. For fault tests.
func (c *Cluster) Shutdown(mode ShutdownMode) {
	sig := syscall.SIGINT
	if mode == Immediate {
		sig = syscall.SIGQUIT
	}
	_ = c.cmd.Process.Signal(sig)
	<-c.done
}

// SetHBA replaces [Config].HBA for the next [Cluster.Restart]: a test
// changes client authentication once its databases and roles exist.
func (c *Cluster) SetHBA(lines []string) { c.cfg.HBA = lines }

// Restart starts the server again on the same data directory and port
// after [Cluster.Shutdown], and returns when it accepts connections (after
// recovery, following an immediate shutdown).
func (c *Cluster) Restart(ctx context.Context) error {
	select {
	case <-c.done:
	default:
		return errors.New("restart: the server is still running")
	}
	c.log.Close()
	n, err := Start(ctx, c.cfg)
	if err != nil {
		return err
	}
	c.cmd, c.done, c.log = n.cmd, n.done, n.log
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	sock := filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d", c.port))
	for {
		select {
		case <-c.done:
			return errors.New("server exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		// The socket lock file appears once the postmaster listens; a TCP
		// connect then confirms it. A real query is left to the caller.
		if _, err := os.Stat(sock + ".lock"); err == nil {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), time.Second)
			if err == nil {
				conn.Close()
				if ok := probeStartup(c.port); ok {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeStartup sends a startup message and reports whether the server
// answered with something other than "the database system is starting up".
func probeStartup(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var msg bytes.Buffer
	params := "user\x00" + Superuser + "\x00database\x00postgres\x00\x00"
	n := 8 + len(params)
	msg.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 0, 3, 0, 0})
	msg.WriteString(params)
	if _, err := conn.Write(msg.Bytes()); err != nil {
		return false
	}
	r := bufio.NewReader(conn)
	t, err := r.ReadByte()
	if err != nil {
		return false
	}
	// 'R' is an authentication request (trust answers AuthenticationOk);
	// 'E' while starting up carries SQLSTATE 57P03.
	return t == 'R'
}

// RunAs returns the credential to run a server that refuses root
// (PostgreSQL, PgBouncer) with, and its uid and gid: a nil credential and
// our own ids when we are not root, else those of "postgres" or "nobody".
func RunAs() (*syscall.Credential, int, int, error) { return runAs() }

func runAs() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, uid, gid, nil
	}
	return nil, 0, 0, errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// checkTraversable reports a clear error when an ancestor of dir cannot be
// entered by uid (a project under /root, say).
func checkTraversable(what, dir string, uid int, fix string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && int(st.Uid) != uid && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s %s: PostgreSQL runs as uid %d, which cannot enter %s; %s", what, dir, uid, d, fix)
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for a server of the caller's (pgbouncer's too).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeHBA writes the client authentication file at path, handing it to
// uid and gid when PostgreSQL runs as another user (chown).
func writeHBA(path string, lines []string, chown bool, uid, gid int) error {
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	if chown {
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("pg_hba.conf: %w", err)
		}
	}
	return nil
}
