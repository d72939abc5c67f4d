// Package web is the jobmanager's dashboard: static HTML, CSS and
// JavaScript embedded in the binary, with no build step. The pages read the
// JSON API under /api/v1 (docs/observability.md) from the same origin and
// refresh themselves every two seconds; routes live in the URL fragment
// (#/jobs/ID/checkpoints), so the server serves one page.
package web
