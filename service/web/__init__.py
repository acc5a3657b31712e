"""What people and operators open in a browser: the check page at `/`, the API docs at
`/docs`, and the Prometheus scrape at `/metrics`. Everything is served by the app itself
(no CDN): the page's own assets from `static/`, Swagger UI's from the swagger-ui-py
package."""
