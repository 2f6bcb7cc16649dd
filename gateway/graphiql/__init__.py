"""The gateway's GraphiQL, served from files in this package (never a CDN) so it works offline: a
browser's `GET /graphql` gets the IDE with a sign-in button (authorisation code + PKCE against identity).
It owns no data and holds no token: the page keeps its tokens in the tab's sessionStorage."""
