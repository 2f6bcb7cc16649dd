"""Tests of the outcomes service."""
