package condo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Start connects the change listener (one dedicated connection, outside
// the pool, with the pool's connection settings) and turns the cache on. It
// returns an error when the first connection fails; after that the
// listener reconnects by itself, with backoff, and empties the cache each
// time since notifications may have been missed. Call [Resolver.Stop] to
// end it.
func (r *Resolver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New("resolver already started")
	}
	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	r.flush()
	r.listen.Store(true)
	r.preload(ctx)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop, r.done = stop, make(chan struct{})
	go r.run(runCtx, conn, r.done)
	return nil
}

// Stop ends the listener and turns the cache off. It waits for the
// listener to close its connection, or for ctx.
func (r *Resolver) Stop(ctx context.Context) error {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.stop, r.done = nil, nil
	r.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Listening reports whether the change listener is connected (and so the
// cache in use).
func (r *Resolver) Listening() bool { return r.listen.Load() }

func (r *Resolver) connect(ctx context.Context) (*pgx.Conn, error) {
	var cfg *pgx.ConnConfig
	if r.listenCC != nil {
		cfg = r.listenCC.Copy()
	} else {
		cfg = r.reg.pool.Config().ConnConfig.Copy()
	}
	// Interrupt waits by a read deadline, which leaves the connection
	// usable, rather than by a cancel request.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect change listener: %w", err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen on %s: %w", NotifyChannel, err)
	}
	return conn, nil
}

// pingEvery is how long the listener waits in silence before checking that
// its connection is alive.
const pingEvery = 15 * time.Second

func (r *Resolver) run(ctx context.Context, conn *pgx.Conn, done chan struct{}) {
	defer close(done)
	defer func() {
		r.listen.Store(false)
		r.flush()
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, pingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			r.stats.notifications.Add(1)
			r.apply(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if wctx.Err() != nil && !conn.IsClosed() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		// The connection is gone: stop caching until a new one listens.
		r.listen.Store(false)
		r.flush()
		_ = conn.Close(context.Background())
		conn = nil
		r.logger.LogAttrs(ctx, slog.LevelWarn, "change listener disconnected; cache off until reconnected",
			slog.String("error", err.Error()))
		delay := 100 * time.Millisecond
		for conn == nil {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			conn, err = r.connect(ctx)
			if err != nil {
				r.logger.LogAttrs(ctx, slog.LevelWarn, "change listener reconnect", slog.String("error", err.Error()))
				delay = min(delay*2, 5*time.Second)
			}
		}
		r.stats.reconnects.Add(1)
		r.flush()
		r.listen.Store(true)
		r.preload(ctx)
		r.logger.LogAttrs(ctx, slog.LevelInfo, "change listener reconnected")
	}
}

// apply evicts what a registry change affects: the tenant's entries by id,
// its slugs and hosts (which may be cached as misses). A payload it cannot
// read empties the cache.
func (r *Resolver) apply(payload string) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		r.logger.LogAttrs(context.Background(), slog.LevelWarn, "unreadable registry notification; cache emptied",
			slog.String("error", err.Error()))
		if r.cache != nil {
			r.cache.flush()
		}
		return
	}
	if c.Op == "move" {
		// The tenant left its place (a move between tiers): this
		// instance's pool of its old database, if it had one, serves
		// nothing any more.
		r.reg.tier.pools.forgetMoved(c.ID, c.Server, c.Database)
	}
	if r.cache == nil {
		return
	}
	keys := make([]cacheKey, 0, 2+len(c.Hosts))
	for _, s := range []string{c.Slug, c.OldSlug} {
		if s != "" {
			keys = append(keys, cacheKey{name: s})
		}
	}
	for _, h := range c.Hosts {
		keys = append(keys, cacheKey{host: true, name: h})
	}
	r.cache.evict(c.ID, keys)
}
