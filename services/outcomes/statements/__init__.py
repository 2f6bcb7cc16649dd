"""Payment statements per contract, payer and period, and the partnership aggregates read from tallies.

It attaches and freezes payment lines; it never prices a claim and never shows participant data.
"""
