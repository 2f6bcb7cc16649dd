"""Outcome claims: submission against the contract version in force, evidence, verification, disputes
and pricing under the cap counters.

It owns the claims and their payment lines; it never enrols a participant and never issues a statement.
"""
