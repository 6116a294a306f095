package condohttp

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// Page returns a handler that answers every request with status and a
// small HTML page (or plain text for clients that do not accept HTML).
func Page(status int, title, message string) http.Handler {
	body := fmt.Sprintf(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>%s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:10vh auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}</style>
</head><body><h1>%s</h1><p>%s</p></body></html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(message))
	htmlBody, text := []byte(body), []byte(title+": "+message+"\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "html") && !strings.Contains(accept, "*/*") {
			hd.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			if r.Method != http.MethodHead {
				_, _ = w.Write(text)
			}
			return
		}
		hd.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(htmlBody)
		}
	})
}
