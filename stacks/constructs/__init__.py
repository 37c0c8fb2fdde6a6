"""Reusable constructs shared by Tandem's stacks."""
