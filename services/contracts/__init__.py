"""Each partnership's versioned outcome contracts: terms, rate cards, caps, signatures.
It references partnerships by identity's id and never writes another service's data."""
