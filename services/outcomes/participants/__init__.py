"""Participants: enrolment by CPR number (kept only as a keyed pseudonym), eligibility and exit.

It owns the `participants` rows; it never stores a CPR number and never prices or decides a claim.
"""
