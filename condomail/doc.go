// Package condomail sends e-mail through a background job, with the
// tenant's name in its templates.
//
// # Delivery
//
// [Mailer.SendTx] renders a template and enqueues the message in the
// caller's transaction (package condojobs): the mail exists exactly when
// the transaction that wanted it commits, a failed delivery is retried
// with back-off, and a process that stops or dies before sending leaves
// the job for the next one: no mail is lost on a restart. A permanent
// refusal (an SMTP 5xx) is not retried. Each message's Message-ID is made
// from its job's id, so a retry after a delivery whose answer was lost
// carries the same id and receivers can drop the duplicate.
//
// Delivery goes through a [Sender]: [SMTP] (any submission server) or an
// [Outbox] that keeps the messages in memory, for development (the
// reference app lists them at /dev/mail) and tests.
//
// # Templates
//
// A template is a file NAME.tmpl defining "subject" and "text" blocks
// (text/template). It is executed with [TemplateData]: the tenant from
// the context ([condo.TenantFromContext]), nil outside a tenant, and the
// caller's data. The sender's display name is the tenant's name.
package condomail
