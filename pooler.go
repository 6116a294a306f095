package condo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolerMode says what sits between Condo and PostgreSQL, and so what a
// server connection can be trusted to keep from one transaction to the
// next.
type PoolerMode string

const (
	// PoolerAuto asks [DetectPooler] to find out.
	PoolerAuto PoolerMode = "auto"
	// PoolerNone is a direct connection: a session is a server connection.
	PoolerNone PoolerMode = "none"
	// PoolerSession is a pooler that gives each client one server
	// connection for the client's whole session (PgBouncer's pool_mode =
	// session): everything works as on a direct connection.
	PoolerSession PoolerMode = "session"
	// PoolerTransaction is a pooler that hands each transaction to any
	// server connection (PgBouncer's pool_mode = transaction, the set-up
	// hosted PostgreSQL offers): nothing may outlive a transaction, so Condo
	// uses no named prepared statements, and LISTEN and the migration lock
	// need a direct connection.
	PoolerTransaction PoolerMode = "transaction"
	// PoolerStatement is a pooler that hands each statement to any server
	// connection (PgBouncer's pool_mode = statement). Condo refuses it:
	// see [ErrStatementPooler].
	PoolerStatement PoolerMode = "statement"
)

// ErrStatementPooler is returned by [DetectPooler] and [ParsePoolerMode]
// for a statement pooler: it refuses transactions of more than one
// statement, and every tenant transaction is one (BEGIN, SET LOCAL, the
// application's statements, COMMIT), so nothing tenant-scoped could work.
var ErrStatementPooler = errors.New("statement pooling (PgBouncer pool_mode = statement) refuses multi-statement transactions, which every tenant transaction is: use pool_mode = transaction or session")

// ParsePoolerMode parses "auto" (or ""), "none", "session" or
// "transaction". Returns [ErrStatementPooler] for "statement".
func ParsePoolerMode(s string) (PoolerMode, error) {
	switch m := PoolerMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return PoolerAuto, nil
	case PoolerAuto, PoolerNone, PoolerSession, PoolerTransaction:
		return m, nil
	case PoolerStatement:
		return "", ErrStatementPooler
	default:
		return "", fmt.Errorf("pooler mode: want auto, none, session or transaction, got %q", s)
	}
}

// NeedsDirect reports whether a connection through m cannot keep a session:
// LISTEN and session advisory locks then need a direct URL.
func (m PoolerMode) NeedsDirect() bool { return m == PoolerTransaction }

// ConfigurePool sets cfg up for mode: behind a transaction pooler, queries
// use pgx's [pgx.QueryExecModeCacheDescribe] (unnamed statements, with
// their descriptions cached on the client, one round trip once cached)
// instead of named prepared statements, which would stay on whichever
// server connection prepared them. [Registry.QueryTenant] and
// [TenantPools] follow the pool's mode (see [Registry.QueryTenant]).
// Other modes leave cfg as it is.
func ConfigurePool(cfg *pgxpool.Config, mode PoolerMode) {
	if mode == PoolerTransaction {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
}

// namedStatements reports whether a connection in exec mode keeps named
// prepared statements across transactions (pgx's default does); a pool
// configured without them is one behind a transaction pooler.
func namedStatements(mode pgx.QueryExecMode) bool {
	return mode == pgx.QueryExecModeCacheStatement || mode == 0
}

// PoolerInfo is what [DetectPooler] found, in words a deployment check can
// print.
type PoolerInfo struct {
	// Mode is what sits between the client and PostgreSQL.
	Mode PoolerMode
	// Assumed is true when Mode is a safe guess rather than observed:
	// something sits in between, but whether it keeps sessions could not
	// be told.
	Assumed bool
	// ClientPort is the port the client connected to; ServerPort the one
	// PostgreSQL listens on.
	ClientPort, ServerPort int
	// Reason says how Mode was decided.
	Reason string
}

func (p *PoolerInfo) String() string {
	if p.Assumed {
		return string(p.Mode) + " (assumed: " + p.Reason + ")"
	}
	return string(p.Mode) + " (" + p.Reason + ")"
}

// DetectPooler connects twice with cfg and finds out what sits between
// the client and PostgreSQL:
//
//   - Two client connections served by the same server backend (the
//     backend pid of one is the other's, the way PgBouncer hands a released
//     server connection to the next client), or one client connection moving
//     between backends: a transaction pooler.
//   - An explicit transaction refused with "transaction blocks not allowed":
//     a statement pooler, reported as [ErrStatementPooler].
//   - The port connected to is PostgreSQL's own port and none of the above:
//     a direct connection ([PoolerNone]).
//   - Another port and no sharing seen: something sits in between (a pooler
//     in session mode, a port mapping, or a transaction pooler that happened
//     to hand out distinct connections). That is reported as
//     [PoolerTransaction] with Assumed set, which is safe on all of them;
//     configure the mode explicitly to say otherwise.
//
// It runs only simple-protocol statements and leaves no state behind.
func DetectPooler(ctx context.Context, cfg *pgx.ConnConfig) (*PoolerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	connect := func() (*pgx.Conn, error) {
		c, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err != nil {
			return nil, fmt.Errorf("detect pooler: connect: %w", err)
		}
		return c, nil
	}
	a, err := connect()
	if err != nil {
		return nil, err
	}
	defer a.Close(context.WithoutCancel(ctx))
	b, err := connect()
	if err != nil {
		return nil, err
	}
	defer b.Close(context.WithoutCancel(ctx))

	info := &PoolerInfo{ClientPort: remotePort(a)}
	backend := func(c *pgx.Conn) (pid, port int, err error) {
		err = c.QueryRow(ctx, "SELECT pg_backend_pid(), current_setting('port')::int", pgx.QueryExecModeSimpleProtocol).Scan(&pid, &port)
		if err != nil {
			return 0, 0, fmt.Errorf("detect pooler: %w", err)
		}
		return pid, port, nil
	}
	// A releases its server connection after each statement when a
	// transaction pooler sits in between, and such a pooler gives the
	// most recently released one to the next client (PgBouncer's default,
	// server_round_robin = 0): B then runs on A's backend.
	shared := false
	for range 3 {
		pa, port, err := backend(a)
		if err != nil {
			return nil, err
		}
		info.ServerPort = port
		pb, _, err := backend(b)
		if err != nil {
			return nil, err
		}
		pa2, _, err := backend(a)
		if err != nil {
			return nil, err
		}
		if pa == pb || pa2 == pb || pa != pa2 {
			shared = true
			break
		}
	}
	// Last, since a statement pooler closes the client connection.
	if _, err := b.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol); err == nil {
		_, err = b.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		if err == nil {
			_, err = b.Exec(ctx, "COMMIT", pgx.QueryExecModeSimpleProtocol)
		}
		if isStatementPoolerRefusal(err) {
			return nil, fmt.Errorf("detect pooler: %w", ErrStatementPooler)
		}
		if err != nil {
			return nil, fmt.Errorf("detect pooler: explicit transaction: %w", err)
		}
	} else if isStatementPoolerRefusal(err) {
		return nil, fmt.Errorf("detect pooler: %w", ErrStatementPooler)
	} else {
		return nil, fmt.Errorf("detect pooler: explicit transaction: %w", err)
	}
	switch {
	case shared:
		info.Mode = PoolerTransaction
		info.Reason = "two client connections ran on the same server backend"
	case info.ClientPort == info.ServerPort:
		info.Mode = PoolerNone
		info.Reason = fmt.Sprintf("connected to port %d, PostgreSQL's own port", info.ServerPort)
	default:
		info.Mode, info.Assumed = PoolerTransaction, true
		info.Reason = fmt.Sprintf("connected to port %d but PostgreSQL listens on %d, so something sits in between; "+
			"set the pooler mode to session or none if it keeps sessions", info.ClientPort, info.ServerPort)
	}
	return info, nil
}

// remotePort is the port c connected to: a TCP port, or the number in a
// Unix socket's name (".s.PGSQL.5432"); 0 when unknown.
func remotePort(c *pgx.Conn) int {
	switch addr := c.PgConn().Conn().RemoteAddr().(type) {
	case *net.TCPAddr:
		return addr.Port
	case *net.UnixAddr:
		if i := strings.LastIndex(addr.Name, ".s.PGSQL."); i >= 0 {
			n, _ := strconv.Atoi(addr.Name[i+len(".s.PGSQL."):])
			return n
		}
	}
	return 0
}

// isStatementPoolerRefusal reports whether err is a statement pooler
// refusing a transaction block: PgBouncer closes the client connection
// with a FATAL protocol_violation ("transaction blocks not allowed in
// statement pooling mode"). Told apart by its SQLSTATE and severity, not
// by its text: PgBouncer reports every refusal of its own with that code,
// and a plain BEGIN or SELECT 1 on a connection that just worked meets no
// other one (a PostgreSQL server never answers them so).
func isStatementPoolerRefusal(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.ProtocolViolation && pgErr.Severity == "FATAL"
}
