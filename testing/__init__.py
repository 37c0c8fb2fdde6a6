"""Test support, shared by tests/ and bench/: never shipped.

moto with Tandem's resources as the stacks define them (moto_aws, moto_resources, template_resources,
tandem_app), canned Bedrock and Comprehend replies (bedrock_replies), tiny models (tiny_models), the Lambda
context (lambda_context), log capture (log_capture) and the outbox in one process (outbox).

No Lambda bundle or training archive holds this package, and no shipped module imports it
(tests/testing/test_not_shipped.py).
"""
