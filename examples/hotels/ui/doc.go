// Package ui is what the reference app's three sites share on screen: the
// page layout, the style sheet, form fields that show their errors next to
// them, flash messages and error pages.
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
// with JavaScript turned off.
package ui
