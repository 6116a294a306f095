// Package notify is the reference app's mail and background jobs: the
// mail templates (password reset, e-mail verification, invitation, the
// nightly report) and the nightly per-tenant report job.
//
// The report runs for every active tenant at 02:00 UTC
// ([condojobs.PeriodicTenantJob]), in the tenant's transaction: it reads
// the tenant's hotels and rooms, and mails a summary to its owners. The
// app has no bookings, so the report gives capacity (rooms, beds, the
// lowest price), which is what occupancy would be measured against.
package notify
