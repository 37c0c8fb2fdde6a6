"""Test support, shared by tests/ and bench/: never shipped.

moto for one test with Tandem's resources as the stacks define them (moto_aws, on local/resources.py and
local/templates.py), canned Bedrock and Comprehend replies (bedrock_replies), synthetic ratings for the tiny
models (tiny_models), log capture (log_capture) and the outbox in one process (outbox).

What the local runtime needs as well (the synthesized templates, resources made from them, the Lambda
context, the tiny models themselves) lives in local/, which the tests import; local/ never imports this
package. No Lambda bundle or training archive holds it, and no shipped module imports it
(tests/testing/test_not_shipped.py).
"""
