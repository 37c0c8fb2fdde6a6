"""The fine-tuning pipeline's evaluation gate: a judge model on Bedrock compares the base and the tuned
model's answers to the held-out questions, in both orders; the tuned model passes only when it is better with
95% confidence (docs/evaluation-gate.md). Deployed by stacks/finetune_stack.py, called by the fine-tuning pipeline after training."""
