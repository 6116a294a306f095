package condo

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
	"github.com/condo-dev/condo/internal/seal"
)

// Tier is how a tenant is kept apart from the others (README, "Tiers").
type Tier string

// Tiers.
const (
	// TierSchema, the default: a schema of the registry's database,
	// reached through the shared pools with SET LOCAL ROLE to the
	// tenant's role.
	TierSchema Tier = "schema"
	// TierDatabase: a database of its own, on the registry's server or on
	// one of [RegistryConfig].Servers, reached by connections that log in
	// as the tenant's own role, which can reach nothing else.
	TierDatabase Tier = "database"
)

// MainServer is the name of the registry's own server in
// [RegistryConfig].Servers and in [CreateParams].Server; a tenant on it
// has Server "".
const MainServer = "main"

// ErrNoSecretKey is returned by database-tier operations when the
// registry has no (valid) [RegistryConfig].SecretKey: a tenant's login
// password can be neither sealed nor opened.
var ErrNoSecretKey = errors.New("database tier needs the registry's secret key")

// ErrUnknownServer is returned (wrapped) when a server name is not in
// [RegistryConfig].Servers.
var ErrUnknownServer = errors.New("unknown server")

// ErrTierUnsupported is returned (wrapped) by [Registry.Create] with
// [TierDatabase] on a server that cannot host it: a Citus coordinator,
// where CREATE DATABASE would make a database on the coordinator alone.
var ErrTierUnsupported = errors.New("database tier not supported on this server")

// tierState is what a registry keeps for the database tier.
type tierState struct {
	servers map[string]*pgxpool.Config // name → owner's config; MainServer always there
	box     *seal.Box                  // nil: keyErr says why
	keyErr  error
	pools   *tierPools
}

func newTierState(pool *pgxpool.Pool, cfg *RegistryConfig) *tierState {
	ts := &tierState{servers: map[string]*pgxpool.Config{}}
	for name, c := range cfg.Servers {
		ts.servers[name] = c
	}
	if ts.servers[MainServer] == nil && pool != nil {
		ts.servers[MainServer] = pool.Config()
	}
	switch {
	case cfg.SecretKey == nil:
		ts.keyErr = ErrNoSecretKey
	default:
		box, err := seal.New(cfg.SecretKey)
		if err != nil {
			ts.keyErr = fmt.Errorf("%w: %w", ErrNoSecretKey, err)
		}
		ts.box = box
	}
	ts.pools = newTierPools(ts, cfg)
	return ts
}

// server returns the owner's config of the server named name ("" is
// [MainServer]). Returns [ErrUnknownServer].
func (ts *tierState) server(name string) (*pgxpool.Config, error) {
	c := ts.servers[serverKey(name)]
	if c == nil {
		return nil, fmt.Errorf("server %q: %w", name, ErrUnknownServer)
	}
	return c, nil
}

// serverKey maps a tenant's Server ("" for the registry's) to its key in
// the servers map.
func serverKey(name string) string {
	if name == "" {
		return MainServer
	}
	return name
}

// passwordAD is the additional data a tenant's sealed password is bound
// to: its id, so a sealed value copied to another row does not open.
func passwordAD(id int64) []byte { return []byte("condo tenant password " + strconv.FormatInt(id, 10)) }

// newPassword returns a random login password: 32 hex digits, 128 bits,
// nothing to quote.
func newPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// password opens t's login password.
func (ts *tierState) password(t *Tenant) (string, error) {
	if ts.box == nil {
		return "", ts.keyErr
	}
	p, err := ts.box.Open(t.SealedPassword, passwordAD(t.ID))
	if err != nil {
		return "", fmt.Errorf("tenant %q password: %w", t.Slug, err)
	}
	return string(p), nil
}

// databaseName is the database of tenant id: the role prefix, so that
// registries sharing a server never collide and orphans are recognisable
// ([Registry.OrphanDatabases]), then the schema's name.
func databaseName(prefix string, id int64) string {
	return prefix + "tenant_" + strconv.FormatInt(id, 10)
}

// connectAs opens one connection to database on server as the owner.
func (ts *tierState) connectAs(ctx context.Context, server, database string) (*pgx.Conn, error) {
	sc, err := ts.server(server)
	if err != nil {
		return nil, err
	}
	cc := sc.ConnConfig.Copy()
	if database != "" {
		if err := pgident.ValidateGiven("database", database); err != nil {
			return nil, err
		}
		cc.Database = database
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, dbError(fmt.Errorf("connect to server %q database %q: %w", serverKey(server), database, err))
	}
	return conn, nil
}

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (what psql's \password sends): CREATE ROLE … PASSWORD with it
// puts no password in the statement, so neither the server's statement
// log nor a client tracer ever sees one.
func scramVerifier(password string) (string, error) {
	const iterations = 4096
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	salted, err := pbkdf2.Key(sha256.New, password, salt[:], iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt[:]), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}
