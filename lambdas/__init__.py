"""Tandem Lambda functions; each folder is one function, common/ is shared code."""
