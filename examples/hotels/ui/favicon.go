package ui

import (
	"net/http"
)

// Favicon returns a handler serving the app's icon, a small embedded SVG,
// at /favicon.ico (where browsers look when a page names none) for every
// site; the layout names it too. Browsers go by the Content-Type, not by
// the ".ico" in the path.
func Favicon() http.Handler {
	b, err := files.ReadFile("static/favicon.svg")
	if err != nil {
		panic(err) // embedded at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "image/svg+xml")
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
}
