package accounts

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
)

// ErrorFunc renders an error page for a person: status, title, message.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, status int, title, message string)

// AuthConfig configures an [Auth]. A nil *AuthConfig is valid.
type AuthConfig struct {
	// Realm is whose sessions the cookie carries. Defaults to [RealmUser].
	Realm Realm
	// MaxBodyBytes bounds the body of unsafe requests. Defaults to 64 KiB.
	MaxBodyBytes int64
	// MaxUploadBytes bounds the body of a file upload (multipart), whose
	// handler streams the file to storage with its own, smaller, limit
	// per file. Defaults to 16 MiB.
	MaxUploadBytes int64
	// Error renders the pages for a refused form (403) or an oversized
	// body (413). Defaults to plain text.
	Error ErrorFunc
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Auth is the HTTP side of accounts on one kind of host: the session
// cookie and CSRF protection.
type Auth struct {
	store   *Store
	realm   Realm
	maxBody int64
	maxUp   int64
	errorf  ErrorFunc
	cop     *http.CrossOriginProtection
	logger  *slog.Logger
}

// NewAuth returns an Auth over store.
func NewAuth(store *Store, cfg *AuthConfig) *Auth {
	if cfg == nil {
		cfg = &AuthConfig{}
	}
	a := &Auth{
		store:   store,
		realm:   cfg.Realm,
		maxBody: cmp.Or(cfg.MaxBodyBytes, 64<<10),
		maxUp:   cmp.Or(cfg.MaxUploadBytes, 16<<20),
		errorf:  cfg.Error,
		cop:     http.NewCrossOriginProtection(),
		logger:  cmp.Or(cfg.Logger, slog.Default()),
	}
	if a.errorf == nil {
		a.errorf = func(w http.ResponseWriter, _ *http.Request, status int, title, message string) {
			http.Error(w, title+": "+message, status)
		}
	}
	return a
}

// Store returns the store.
func (a *Auth) Store() *Store { return a.store }

// State is what [Auth.Middleware] learned about a request.
type State struct {
	// Session is the signed-in session, nil when signed out.
	Session *Session
	// CSRF is the token forms on this page must send back (field "csrf",
	// or header X-CSRF-Token).
	CSRF string
	// Secure reports an HTTPS request: cookies get the Secure attribute.
	Secure bool
	token  string
}

type stateKey struct{}

// StateFrom returns the request's [State]. Outside [Auth.Middleware] it
// returns an empty State (signed out, no token).
func StateFrom(ctx context.Context) *State {
	if s, ok := ctx.Value(stateKey{}).(*State); ok {
		return s
	}
	return &State{}
}

func (a *Auth) cookieName(secure bool) string {
	name := "session"
	if a.realm == RealmAdmin {
		name = "admin_session"
	}
	if secure {
		// The __Host- prefix makes the browser refuse the cookie unless it
		// is Secure, host-only and for path /: no sibling host can plant it.
		return "__Host-" + name
	}
	return name
}

// anonCookieName names the random cookie that CSRF tokens are bound to
// before login.
func anonCookieName(secure bool) string {
	if secure {
		return "__Host-csrf_id"
	}
	return "csrf_id"
}

// Middleware reads the session cookie and, for every unsafe request, bounds
// the body and checks the CSRF token before next runs: a forged or expired
// form gets 403 and changes nothing. The tenant of the request context (if
// any) is the one whose role the session is read with.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st := &State{Secure: condohttp.IsHTTPS(r)}
		var tenantID int64
		if t, ok := condo.TenantFromContext(ctx); ok {
			tenantID = t.ID
		}
		name := a.cookieName(st.Secure)
		if c, err := r.Cookie(name); err == nil {
			sess, err := a.store.LookupSession(ctx, a.realm, c.Value, tenantID)
			switch {
			case err == nil:
				st.Session, st.token = sess, c.Value
			case errors.Is(err, ErrNoSession):
				a.clearCookie(w, name, st.Secure)
			default:
				a.logger.LogAttrs(ctx, slog.LevelError, "read session", slog.String("error", err.Error()))
				a.errorf(w, r, http.StatusServiceUnavailable, "Unavailable", "Please try again in a moment.")
				return
			}
		}
		var binding string
		if st.Session != nil {
			binding = "s:" + hex.EncodeToString(st.Session.tokenHash)
		} else {
			c, err := r.Cookie(anonCookieName(st.Secure))
			if err != nil || len(c.Value) != 22 {
				var b [16]byte
				_, _ = rand.Read(b[:])
				c = &http.Cookie{Name: anonCookieName(st.Secure), Value: base64.RawURLEncoding.EncodeToString(b[:]),
					Path: "/", HttpOnly: true, Secure: st.Secure, SameSite: http.SameSiteLaxMode}
				http.SetCookie(w, c)
			}
			binding = "a:" + c.Value
		}
		key, err := a.store.secret(ctx)
		if err != nil {
			a.logger.LogAttrs(ctx, slog.LevelError, "csrf key", slog.String("error", err.Error()))
			a.errorf(w, r, http.StatusServiceUnavailable, "Unavailable", "Please try again in a moment.")
			return
		}
		st.CSRF = mac(key, a.realm.String(), strings.ToLower(r.Host), binding)
		if !ValidText(r.URL.Query()) {
			a.errorf(w, r, http.StatusBadRequest, "Bad request", "The address contains characters that are not valid text. Nothing was changed.")
			return
		}
		if !safeMethod(r.Method) {
			if err := a.cop.Check(r); err != nil {
				a.errorf(w, r, http.StatusForbidden, "Form refused", "This form was sent from another site, so it was ignored. Nothing was changed.")
				return
			}
			// A file upload (multipart) is streamed by its handler to
			// storage, with its own limit: reading the whole form here
			// would mean buffering the file. Its form carries the token as
			// its first field, read here; the handler goes on with the
			// same reader ([Upload]). Not in the URL: a proxy's access log
			// or a Referer would carry it.
			upload := isMultipart(r)
			var got string
			var parts *multipart.Reader
			if upload {
				r.Body = http.MaxBytesReader(w, r.Body, a.maxUp)
				var err error
				if parts, err = r.MultipartReader(); err == nil {
					got, err = firstField(parts, "csrf")
				}
				if err != nil {
					a.errorf(w, r, http.StatusBadRequest, "Bad request", "The upload could not be read. Nothing was saved.")
					return
				}
				ctx = context.WithValue(ctx, uploadKey{}, parts)
			} else {
				r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
				if err := r.ParseForm(); err != nil {
					var mbe *http.MaxBytesError
					if errors.As(err, &mbe) {
						a.errorf(w, r, http.StatusRequestEntityTooLarge, "Too much data", "The form was too large, so nothing was saved. Shorten the text and try again.")
						return
					}
					a.errorf(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Nothing was saved.")
					return
				}
				if !ValidText(r.PostForm) {
					a.errorf(w, r, http.StatusBadRequest, "Bad request", "The form contains characters that are not valid text (such as a NUL byte). Nothing was saved.")
					return
				}
				got = r.PostForm.Get("csrf")
			}
			if got == "" {
				got = r.Header.Get("X-CSRF-Token")
			}
			if !hmac.Equal([]byte(got), []byte(st.CSRF)) {
				a.errorf(w, r, http.StatusForbidden, "Form expired",
					"This form has expired or did not come from this site, so nothing was changed. Go back, reload the page and try again (cookies must be enabled).")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, stateKey{}, st)))
	})
}

// ValidText reports whether every name and value in v is valid UTF-8
// without NUL bytes: what PostgreSQL can store as text. Anything else is
// bad input (400), checked here for every field of every form and query,
// rather than failing deep inside a query (a 500 and an ERROR line).
func ValidText(v url.Values) bool {
	ok := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
	for k, vs := range v {
		if !ok(k) {
			return false
		}
		for _, s := range vs {
			if !ok(s) {
				return false
			}
		}
	}
	return true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// SignIn opens a new session for subjectID (on tenantID's host, 0 for
// none) and sets its cookie, ending the request's previous session, if
// any, so a session id fixed before login is worthless after it.
func (a *Auth) SignIn(w http.ResponseWriter, r *http.Request, subjectID, tenantID int64) error {
	st := StateFrom(r.Context())
	if st.token != "" {
		if err := a.store.DeleteSession(r.Context(), st.token); err != nil {
			return err
		}
	}
	tok, err := a.store.CreateSession(r.Context(), a.realm, subjectID, tenantID)
	if err != nil {
		return err
	}
	secure := condohttp.IsHTTPS(r)
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(secure), Value: tok, Path: "/",
		MaxAge:   int(a.store.sessionTTL.Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// SignOut ends the request's session and clears its cookie.
func (a *Auth) SignOut(w http.ResponseWriter, r *http.Request) error {
	st := StateFrom(r.Context())
	secure := condohttp.IsHTTPS(r)
	a.clearCookie(w, a.cookieName(secure), secure)
	if st.token == "" {
		return nil
	}
	return a.store.DeleteSession(r.Context(), st.token)
}

func (a *Auth) clearCookie(w http.ResponseWriter, name string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// ClientAddr returns the client's network for throttling: its address as
// the Condo server worked it out (trusting only configured proxies), else
// the peer's; for IPv6 the /64 it is in, since one client commonly holds
// a whole /64 and could otherwise use a fresh address per try.
func ClientAddr(r *http.Request) string {
	if a := condohttp.ClientAddr(r.Context()); a.IsValid() {
		return network(a.String())
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return network(r.RemoteAddr)
	}
	return network(host)
}

// Throttled reports whether err is a [*ThrottledError] (too many failed
// sign-ins). If so it sets Retry-After on w and returns the message for
// the form, so that every sign-in form answers a throttled address alike.
func Throttled(w http.ResponseWriter, err error) (message string, ok bool) {
	var te *ThrottledError
	if !errors.As(err, &te) {
		return "", false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())+1))
	return fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", te.Minutes()), true
}

// isMultipart reports whether r's body is multipart/form-data: a file
// upload.
// uploadKey is the context key of an upload's multipart reader.
type uploadKey struct{}

// Upload returns the multipart reader of a file upload that
// [Auth.Middleware] checked: the parts after the form's CSRF token, to be
// read with NextPart. Nil when r is not a checked upload.
func Upload(r *http.Request) *multipart.Reader {
	mr, _ := r.Context().Value(uploadKey{}).(*multipart.Reader)
	return mr
}

// firstField returns the value of the form's first part when it is the
// field name (at most 1 KiB), and "" when the first part is another: an
// upload form puts its token before its file.
func firstField(mr *multipart.Reader, name string) (string, error) {
	part, err := mr.NextPart()
	if errors.Is(err, io.EOF) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if part.FormName() != name || part.FileName() != "" {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(part, 1<<10))
	return string(b), err
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}
