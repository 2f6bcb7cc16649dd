"""Erasure on the data controller's request: free text in the ledger's disclosures, a participant's
municipal reference and evidence documents. Never touches the chain itself or any money: an erased value
stays a commitment in the hashed record, so the chain verifies as before."""
