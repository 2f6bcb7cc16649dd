"""Post-payment audits (terms v2 `audits`): a payer samples the claims it has paid for a period, records
a finding per sampled claim, and closing the audit books the clawbacks and any extrapolated adjustment as
negative lines into its next statement. The arithmetic is the pure engine's (`pricing/audits.py`); this
package never changes an issued statement or a line already on one.
"""
