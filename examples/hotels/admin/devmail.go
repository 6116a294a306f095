package admin

import (
	"net/http"
	"regexp"

	"github.com/condo-dev/condo/condomail"
)

// linkPattern finds the links in a mail's text, offered as links on the
// page (the text itself is shown as it was sent).
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// devMessage is one sent message on /dev/mail.
type devMessage struct {
	condomail.Sent
	Links []string
}

// devMail lists the messages the development outbox kept, newest first.
func (h *Handler) devMail(o *condomail.Outbox) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ms []devMessage
		for _, s := range o.Messages() {
			ms = append(ms, devMessage{Sent: s, Links: linkPattern.FindAllString(s.Text, -1)})
		}
		w.Header().Set("Cache-Control", "no-store")
		h.site.Render(w, r, http.StatusOK, "devmail", "Sent mail", "", ms)
	}
}
