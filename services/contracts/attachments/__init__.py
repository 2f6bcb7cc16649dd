"""Files attached to a contract draft (the legal text, annexes), stored in PostgreSQL with their SHA-256
and served back byte for byte. Never changes a version's terms or status."""
