// Package ui is what the reference app's three sites (the platform admin,
// the public site, the tenant app) share: the page layout, the style
// sheet, form fields that show their errors next to them, flash messages,
// error pages, and the skeleton of a site.
//
// # The skeleton
//
// [NewSite] gives each site a [Site]: its pages, the accounts middleware
// (session cookie and CSRF), sign-in and sign-out ([Site.HandleLogin]),
// the error pages ([Site.Error], and [Site.Internal], which logs the error
// and shows none of it), one-time messages after a redirect
// ([Site.Redirect]) and the routes every site has ([Site.Handler]: the
// assets, the favicon, a 404 page). A site supplies only what is its own
// in [SiteConfig]: its page header, its messages, and who may sign in
// (the tenant app: members of the tenant).
//
// # Pages
//
// [Parse] reads a site's page templates (each defines a "content"
// template) and runs each inside the common layout. Handlers fill a [View]
// and call [Templates.Render], which renders into a buffer first, so a
// template error becomes a clean 500 instead of half a page.
//
// # Forms
//
// A [Form] holds the submitted values and an error per field. In a
// template, {{template "field" (.Data.Form.Field "name" "Hotel name" "text" | maxlen 100)}}
// draws a labelled input with its error (aria-invalid, aria-describedby), so
// every form is accessible without repeating the markup.
//
// # Assets
//
// [Static] serves the style sheet and the one optional script from the
// binary: no page fetches anything from the internet, and every page works
// with JavaScript turned off. [Favicon] serves the app's icon, an
// embedded SVG, at /favicon.ico on every site.
package ui
