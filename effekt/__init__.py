"""The platform launcher: `effekt up` runs identity, contracts, outcomes and the gateway locally on an
embedded (or external) PostgreSQL; `effekt migrate` is production's explicit migration step. It starts
services by import string in their own processes and never imports them."""
