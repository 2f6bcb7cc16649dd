"""Outcome claims: submission against the contract version in force (facts checked against the
outcome's criteria), evidence, verification, disputes, pricing by the engine under the cap counters, and
re-pricing after a retroactive amendment.

It owns the claims and their payment lines; it never enrols a participant and never issues a statement.
"""
