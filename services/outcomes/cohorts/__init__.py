"""Cohort formula outcomes: an evaluator's measured figures for a cohort and period, the payment the pure
engine (`pricing/cohorts.py`) computes from them with its working, the payer's four-eyes approval, and the
booking of an approved payment as a `cohort` line on the payer's statement.

It never reads or writes person-level data: cohort figures are aggregates.
"""
