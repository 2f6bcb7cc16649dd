"""Bulk import: NDJSON or CSV lines of enrolments, eligibility, claims, decisions and disputes, each with
its own result, idempotent by external reference.

It runs every line through the aggregates' own rules; it never holds a rule of its own.
"""
