package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
)

// Config configures a [Counter]. A nil *Config is valid.
type Config struct {
	// Interval is how often counts are written. Defaults to 10 seconds.
	Interval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Counter counts requests per tenant and writes the counts to the
// database.
type Counter struct {
	pool     execer
	interval time.Duration
	logger   *slog.Logger

	counts sync.Map // tenant id → *atomic.Int64
	// flushing serialises flushes, so that when Flush returns every count
	// taken before it is written, also those a periodic flush in flight
	// took (Stop's final flush and tests rely on it).
	flushing sync.Mutex

	mu   sync.Mutex // guards stop, done
	stop context.CancelFunc
	done chan struct{}
}

// execer is what counts are written with: a pool, or with split roles a
// [condo.SharedPool].
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// New returns a counter writing with pool: with split roles the app's
// [condo.SharedPool] (it needs SELECT, INSERT, UPDATE on tenant_requests
// only).
func New(pool execer, cfg *Config) *Counter {
	if cfg == nil {
		cfg = &Config{}
	}
	return &Counter{pool: pool, interval: cmp.Or(cfg.Interval, 10*time.Second), logger: cmp.Or(cfg.Logger, slog.Default())}
}

// Middleware counts each request whose context has a tenant.
func (c *Counter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := condo.TenantFromContext(r.Context()); ok {
			c.Add(t.ID, 1)
		}
		next.ServeHTTP(w, r)
	})
}

// Add counts n requests for tenant id.
func (c *Counter) Add(id, n int64) {
	v, ok := c.counts.Load(id)
	if !ok {
		v, _ = c.counts.LoadOrStore(id, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
}

// Flush writes the counts gathered so far. Counts that fail to be written
// are kept for the next flush.
func (c *Counter) Flush(ctx context.Context) error {
	c.flushing.Lock()
	defer c.flushing.Unlock()
	var ids, ns []int64
	c.counts.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Swap(0); n > 0 {
			ids = append(ids, k.(int64))
			ns = append(ns, n)
		}
		return true
	})
	if len(ids) == 0 {
		return nil
	}
	err := c.write(ctx, ids, ns)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.ForeignKeyViolation {
		// A tenant purged meanwhile has no registry row (and the runtime
		// role may not read the registry to filter it out): write the
		// counts one by one and drop those of tenants that are gone.
		var kept, keptN []int64
		var last error
		for i, id := range ids {
			switch err := c.write(ctx, ids[i:i+1], ns[i:i+1]); {
			case err == nil:
			case errors.As(err, &pe) && pe.Code == pgerrcode.ForeignKeyViolation:
			default:
				kept, keptN, last = append(kept, id), append(keptN, ns[i]), err
			}
		}
		ids, ns, err = kept, keptN, last
	}
	if err != nil {
		for i, id := range ids {
			c.Add(id, ns[i])
		}
		return fmt.Errorf("write request counts: %w", err)
	}
	return nil
}

// write adds ns to today's counts of the tenants ids, in one statement.
func (c *Counter) write(ctx context.Context, ids, ns []int64) error {
	_, err := c.pool.Exec(ctx, `
		INSERT INTO public.tenant_requests AS tr (tenant_id, day, requests)
		SELECT u.id, current_date, u.n FROM unnest($1::bigint[], $2::bigint[]) AS u(id, n)
		ON CONFLICT (tenant_id, day) DO UPDATE SET requests = tr.requests + EXCLUDED.requests`, ids, ns)
	return err
}

// Start writes counts every interval until ctx ends or [Counter.Stop] is
// called, and then once more.
func (c *Counter) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	ctx, c.stop = context.WithCancel(ctx)
	done := make(chan struct{})
	c.done = done
	go func() {
		defer close(done)
		tick := time.NewTicker(c.interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := c.Flush(fctx); err != nil {
					c.logger.LogAttrs(ctx, slog.LevelWarn, "usage flush", slog.String("error", err.Error()))
				}
				return
			case <-tick.C:
				if err := c.Flush(ctx); err != nil && ctx.Err() == nil {
					c.logger.LogAttrs(ctx, slog.LevelWarn, "usage flush", slog.String("error", err.Error()))
				}
			}
		}
	}()
}

// Stop ends the writer started by [Counter.Start] and waits for its last
// write.
func (c *Counter) Stop() {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.stop, c.done = nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
