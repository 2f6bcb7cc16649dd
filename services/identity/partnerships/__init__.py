"""Partnerships, the tenancy unit, and memberships: which organisation holds which role in which
partnership. Operators create partnerships; a partnership's outcome payer (or an operator) manages its
members. Never touches users or clients."""
