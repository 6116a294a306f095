package condofiles

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/condo-dev/condo"
)

// inlineTypes render in the page; anything else is sent as an attachment,
// so an uploaded HTML or SVG file never runs on the tenant's origin.
var inlineTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// URL returns a short-lived URL ([Config].URLTTL) for key of the tenant in
// ctx: the backend's presigned URL ([Presigner], e.g. S3), or a path on
// the tenant's own host ([Config].URLPrefix) signed by the server for
// [Files.Handler]. It does not check that key exists. Returns
// [condo.ErrNoTenant] or a [*KeyError].
func (f *Files) URL(ctx context.Context, key string) (string, error) {
	t, name, err := f.name(ctx, key)
	if err != nil {
		return "", err
	}
	if p, ok := f.backend.(Presigner); ok && !f.cfg.ServeThroughServer {
		return p.PresignGet(ctx, name, f.cfg.URLTTL)
	}
	exp := strconv.FormatInt(time.Now().Add(f.cfg.URLTTL).Unix(), 10)
	q := url.Values{"e": {exp}, "s": {f.sign(t, key, exp)}}
	return f.cfg.URLPrefix + key + "?" + q.Encode(), nil
}

// sign is the HMAC of the tenant's id, the key and the expiry: the id
// binds a URL to its tenant, so the same path on another tenant's host
// fails, and any change to the key fails.
func (f *Files) sign(t *condo.Tenant, key, exp string) string {
	m := hmac.New(sha256.New, f.cfg.SigningKey)
	m.Write([]byte(strconv.FormatInt(t.ID, 10) + "\x00" + key + "\x00" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Handler serves the URLs signed by [Files.URL] under [Config].URLPrefix,
// for the tenant in the request context (mount it behind the tenant
// middleware). A missing tenant, bad or expired signature, invalid key or
// missing file all get the same 404: a prober learns nothing.
func (f *Files) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := condo.TenantFromContext(r.Context())
		key, found := strings.CutPrefix(r.URL.Path, f.cfg.URLPrefix)
		q := r.URL.Query()
		exp, sig := q.Get("e"), q.Get("s")
		unix, err := strconv.ParseInt(exp, 10, 64)
		if !ok || !found || err != nil || time.Now().Unix() > unix ||
			ValidateKey(key) != nil || !hmac.Equal([]byte(sig), []byte(f.sign(t, key, exp))) {
			http.NotFound(w, r)
			return
		}
		// The URL's signature is the permission; the response may be
		// cached privately until the URL expires.
		w.Header().Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(unix-time.Now().Unix(), 0), 10))
		f.ServeContent(w, r, key)
	})
}

// ServeContent sends key of the tenant in r's context through the server
// (Range and If-Modified-Since included), for an application that checks
// its own permissions first. It sends nosniff, a CSP sandbox and, for
// anything but a JPEG, PNG, GIF or WebP image, Content-Disposition:
// attachment. A missing file or key gets 404; other errors 500 (and a log
// line).
func (f *Files) ServeContent(w http.ResponseWriter, r *http.Request, key string) {
	rc, o, err := f.Open(r.Context(), key)
	if err != nil {
		var ke *KeyError
		if errors.Is(err, ErrNotFound) || errors.As(err, &ke) || errors.Is(err, condo.ErrNoTenant) {
			http.NotFound(w, r)
			return
		}
		f.cfg.Logger.ErrorContext(r.Context(), "serve file", "key", key, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", o.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if !inlineTypes[baseType(o.ContentType)] {
		h.Set("Content-Disposition", "attachment")
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", o.Modified, rs)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(o.Size, 10))
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, rc)
	}
}
