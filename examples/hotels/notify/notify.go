package notify

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/examples/hotels/accounts"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Templates are the app's mail templates, for [condomail.Config].
func Templates() fs.FS {
	f, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err) // embedded at build time
	}
	return f
}

// ReportArgs is the nightly report of one tenant.
type ReportArgs struct{}

// Kind is the job's kind.
func (ReportArgs) Kind() string { return "hotels_report" }

// Reports works the nightly report. Its worker is registered before the
// stack is built ([NewReports]); what it uses is built with the app
// ([Reports.Use]).
type Reports struct {
	deps atomic.Pointer[reportDeps]
}

type reportDeps struct {
	store *accounts.Store
	mail  *condomail.Mailer
}

// errNotReady is returned by a report that runs before [Reports.Use]:
// River tries it again later.
var errNotReady = errors.New("reports: the app is not built yet")

// NewReports registers the report worker in ws.
func NewReports(ws *condojobs.Workers) *Reports {
	r := &Reports{}
	condojobs.AddTenant(ws, r.work)
	return r
}

// Use gives the reports the account store (the owners' addresses) and the
// mailer (nil: no mail, the reports are skipped).
func (r *Reports) Use(store *accounts.Store, mail *condomail.Mailer) {
	r.deps.Store(&reportDeps{store: store, mail: mail})
}

// Nightly is the periodic job that enqueues every active tenant's report
// at 02:00 UTC.
func Nightly() *river.PeriodicJob {
	return condojobs.PeriodicTenantJob(at{hour: 2}, func() river.JobArgs { return ReportArgs{} }, nil)
}

// at is a daily schedule: the next hour:00 UTC.
type at struct{ hour int }

func (a at) Next(t time.Time) time.Time {
	t = t.UTC()
	n := time.Date(t.Year(), t.Month(), t.Day(), a.hour, 0, 0, 0, time.UTC)
	if !n.After(t) {
		n = n.AddDate(0, 0, 1)
	}
	return n
}

// HotelLine is one hotel in the report.
type HotelLine struct {
	Name, City  string
	Rooms, Beds int
	MinPrice    string
}

// ReportData is the report mail's data.
type ReportData struct {
	Day         string
	Hotels      []HotelLine
	Rooms, Beds int
}

// work reads the tenant's hotels in its transaction and mails the report
// to its owners, in the same transaction: the mails exist if the report
// job completes.
func (r *Reports) work(ctx context.Context, tx pgx.Tx, job *river.Job[ReportArgs]) error {
	d := r.deps.Load()
	if d == nil {
		return errNotReady
	}
	if d.mail == nil {
		return nil // no mail configured: nobody to tell
	}
	t, _ := condo.TenantFromContext(ctx)
	rows, _ := tx.Query(ctx, `SELECT h.name, h.city, count(r.id)::int, coalesce(sum(r.beds), 0)::int, coalesce(min(r.price)::text, '')
		FROM hotel h LEFT JOIN room r ON r.hotel_id = h.id GROUP BY h.id ORDER BY h.name`)
	hotels, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HotelLine])
	if err != nil {
		return err
	}
	data := ReportData{Day: job.CreatedAt.UTC().Format("2 Jan 2006"), Hotels: hotels}
	for _, h := range hotels {
		data.Rooms += h.Rooms
		data.Beds += h.Beds
	}
	owners, err := d.store.Owners(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if err := d.mail.SendTx(ctx, tx, "report", o, data); err != nil {
			return err
		}
	}
	return nil
}
