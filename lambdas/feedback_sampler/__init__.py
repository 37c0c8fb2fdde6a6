"""The feedback sampler (deployed by stacks/feedback_stack.py): picks logged bot answers for experts to rate,
masks personal data, writes a Ground Truth input manifest and starts the custom labeling job."""
