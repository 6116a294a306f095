package condostack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/condo-dev/condo/condohttp"
	"github.com/jackc/pgx/v5"
)

// Back-off of serve's wait for the database: the first retry after
// dbWaitFirst, then doubling up to dbWaitMax between tries.
const (
	dbWaitFirst = 250 * time.Millisecond
	dbWaitMax   = 10 * time.Second
)

// waitForDatabase waits for the database as [Config].DBWait says, serving
// the starting handler on the HTTP address after the first failed try;
// the socket stays open for Serve.
func (s *Stack) waitForDatabase(ctx context.Context) error {
	limit := max(s.cfg.DBWait, 0)
	waitDone := make(chan struct{})
	defer close(waitDone)
	return retryPing(ctx, s.ping, s.Logger, limit, func() error {
		if !s.cfg.Serve.listening() {
			return nil
		}
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.cfg.Serve.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", s.cfg.Serve.HTTPAddr, err)
		}
		s.httpLn = newHandoff(ln)
		starting := &http.Server{Handler: startingHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = starting.Serve(s.httpLn.listener(false)) }()
		// Stopped once the wait ends; the socket stays open for the server.
		go func() {
			<-waitDone
			_ = starting.Shutdown(context.WithoutCancel(ctx))
		}()
		return nil
	})
}

// retryPing calls ping until it succeeds, with back-off, logging
// each failed try with its error and when the next one is. It gives up
// after limit (0: only when ctx ends). onFirstFailure, when not nil, runs
// once after the first failed try (serve starts answering /readyz then).
func retryPing(ctx context.Context, ping func(context.Context) error, logger *slog.Logger, limit time.Duration, onFirstFailure func() error) error {
	start := time.Now()
	delay := dbWaitFirst
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ping(pctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				logger.LogAttrs(ctx, slog.LevelInfo, "database reachable", slog.Int("attempts", attempt),
					slog.Duration("waited", time.Since(start).Round(time.Millisecond)))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if limit > 0 && time.Since(start)+delay > limit {
			return fmt.Errorf("database not reachable within %s (DBWait): %w", limit, err)
		}
		logger.LogAttrs(ctx, slog.LevelWarn, "database not reachable; retrying",
			slog.Int("attempt", attempt), slog.String("error", err.Error()),
			slog.Duration("retry_in", delay), slog.Time("retry_at", time.Now().Add(delay).Round(time.Millisecond)))
		if attempt == 1 && onFirstFailure != nil {
			if err := onFirstFailure(); err != nil {
				return err
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, dbWaitMax)
	}
}

// startingHandler answers while serve waits for the database: the process
// is alive (/healthz 200) but not ready, and neither is anything else.
func startingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("starting: waiting for the database\n"))
	})
}

// handoff accepts connections on one socket and gives them to whichever
// server serves it now, so that the small server answering while serve
// waits for the database can give way to the real one without closing the
// socket: no client is refused in between.
type handoff struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{} // closed when the socket is closed
	err   error         // why the socket closed, set before done is
	once  sync.Once
}

func newHandoff(ln net.Listener) *handoff {
	h := &handoff{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go h.loop()
	return h
}

func (h *handoff) loop() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			h.close(err)
			return
		}
		select {
		case h.conns <- c:
		case <-h.done:
			_ = c.Close()
			return
		}
	}
}

// close closes the socket; err is why (nil: we closed it).
func (h *handoff) close(err error) {
	h.once.Do(func() {
		h.err = err
		close(h.done)
		_ = h.ln.Close()
	})
}

// listener returns a view of the socket for one server. Closing it stops
// that server's Accept; when last is true it closes the socket too.
func (h *handoff) listener(last bool) net.Listener {
	return &handoffListener{h: h, last: last, closed: make(chan struct{})}
}

type handoffListener struct {
	h      *handoff
	last   bool
	once   sync.Once
	closed chan struct{}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.h.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.h.done:
		if l.h.err != nil && !errors.Is(l.h.err, net.ErrClosed) {
			return nil, l.h.err
		}
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		if l.last {
			l.h.close(nil)
		}
	})
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.h.ln.Addr() }

// httpListener is the server's view of h, nil without one.
func httpListener(h *handoff) net.Listener {
	if h == nil {
		return nil
	}
	return h.listener(true)
}

// ping connects to the database URL and the direct URL, when set,
// and reports whether both answer. Only a database that is unavailable for
// now (refused, starting up, out of slots: what condohttp.ErrorStatusCode calls
// 503) is worth waiting for; any other problem (a bad URL or password, a
// database that does not exist) is left to open, which reports it at once.
func (s *Stack) ping(ctx context.Context) error {
	for _, u := range []struct{ what, url string }{
		{"database", s.cfg.DatabaseURL},
		{"direct database", s.cfg.DirectDatabaseURL},
	} {
		if u.url == "" {
			continue
		}
		cfg, err := pgx.ParseConfig(u.url)
		if err != nil {
			return nil
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = defaultConnectTimeout
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(context.WithoutCancel(ctx))
		}
		if err != nil {
			if condohttp.ErrorStatusCode(err) != http.StatusServiceUnavailable {
				return nil
			}
			return fmt.Errorf("%s: %w", u.what, err)
		}
	}
	return nil
}
