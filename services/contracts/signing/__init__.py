"""Proposal and signatures: freezing a draft, checking its parties with identity, recording signatures
and activating the version once every required party signed. Never edits terms."""
