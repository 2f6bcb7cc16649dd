"""Tolerant HTTP readers of the other services this one needs: only the fields it uses."""
