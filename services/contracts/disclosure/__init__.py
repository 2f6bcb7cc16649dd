"""Open data: each partnership's disclosure status per block of its registry and results, who changed it
(audited), and the exports built from what is `public` (INDIGO, OCDS). It never shows a field that is not
`public` outside the partnership, nor a count the small-cell rule withholds; it writes no other service's
data (results are read from the outcome service over HTTP)."""
