// Package tenantapp is the reference app's tenant app (the tutorial's
// myapp.hotels): what a tenant's members see on the tenant's own host,
// acme.example.com. It is a plain [http.Handler] for
// [condohttp.Handlers].Tenant; the tenant comes from the request context.
//
// # Pages
//
//	GET  /                          hotels: search (?q=) and pages (?page=)
//	GET  /hotels/new, POST          add a hotel
//	GET  /hotels/{id}               a hotel and its rooms
//	GET  /hotels/{id}/edit, POST    edit it
//	GET  /hotels/{id}/delete, POST  delete it, after confirmation (and its photo)
//	POST /hotels/{id}/photo         upload its photo (multipart; when Config.Files is set; with
//	                                Config.Jobs a job makes its thumbnail, package thumbs)
//	GET  /files/...?e=&s=           a photo, by the short-lived URL signed for this tenant
//	     /hotels/{id}/rooms/new, /hotels/{id}/rooms/{room}/edit, .../delete
//	GET  /members                   members; owners and admins invite (POST /members/invite)
//	GET  /login, POST; POST /logout
//	GET  /auth/handoff?token=       sign-in link from the public signup
//	GET  /invite/{token}, POST      accept an invitation
//	GET  /settings                  the public directory's switch (owners change it: POST /settings/directory)
//	GET  /hotels/                   the JSON directory (read-only), when configured and
//	                                published by the owner (off by default)
//
// # Access
//
// Every page except sign-in, the hand-off and invitations needs a session
// whose user is a member of this tenant: a signed-out visitor is sent to
// /login (also with a session opened on another tenant's host: a session
// belongs to its host), a signed-in user without a membership here gets
// 403. Data is read and
// written only in tenant transactions ([condo.Registry.InTenantTx]), so a
// hotel id from another tenant names nothing here: ids are per schema.
//
// Validation errors are shown next to their fields, with the values kept;
// nothing is written unless the whole form is valid.
package tenantapp
