"""Partnerships, the tenancy unit; memberships, which organisation holds which role in which partnership;
and membership grants, the outcome payers' consents to a role that reaches person-level data. Who may do
what is `access.py`: the operator creates and changes partnerships; no organisation grants itself a role.
Never touches users or clients."""
