// Package condofiles stores a tenant's files where only that tenant can
// reach them: the tenant comes from the context ([condo.TenantFromContext]),
// exactly as it does for [condo.Registry.InTenantTx], and every key is
// validated before it is joined to the tenant's prefix.
//
// # Storage
//
// [Files] is the tenant-aware front; a [Backend] stores the bytes. Two
// backends are provided: [Local] (a directory per tenant under one root)
// and [S3] (any S3-compatible server, through aws-sdk-go-v2). Objects of
// tenant 42 live under "tenant_42/", named after the tenant's id, not its
// slug, so a rename moves nothing (as with its schema).
//
// # Keys
//
// A key is one or more segments separated by "/", each made of ASCII
// letters, digits, '.', '_' and '-', starting with a letter or digit, at
// most [MaxKeyLen] bytes in all. That allow-list refuses, without a list of
// tricks to remember, every way a key could name another tenant's object:
// "..", absolute keys, backslashes, percent-encoded separators, NUL,
// Unicode look-alikes and empty segments. [ValidateKey] returns a
// [*KeyError] wrapping [ErrInvalidKey].
//
// # Uploads and downloads
//
// [Files.Put] streams an upload to a temporary file, refusing it with
// [ErrTooLarge] as soon as it passes the size limit (nothing reaches the
// storage then), sniffs its content type from its first 512 bytes
// (never trusting the client's claim), checks it against the allowed
// types, and hands it to the backend. [Files.URL] returns a short-lived
// URL: a presigned S3 URL when the backend can sign one, or a URL on the
// tenant's own host signed with HMAC over the tenant's id, the key and
// the expiry, served by [Files.Handler]; such a URL opens nothing on
// another tenant's host, and a forged or altered key fails its signature.
// [Files.ServeContent] sends a file through the server after the
// application's own checks. Both send nosniff and a sandboxing CSP, and
// only the image types render inline: an uploaded HTML file cannot run
// script on the tenant's origin.
//
// # Operations
//
// [Files.Usage] counts a tenant's objects and bytes. [Files] is a
// [condo.TenantFiles]: given to the registry ([condo.RegistryConfig].Files,
// which package condostack sets), [Files.Purge] runs when a tenant is
// purged, and [Files.Export] and [Files.Import] carry the tenant's files as
// a tar stream inside [condo.Registry.Export]'s file, after the tables.
package condofiles
