"""The Bedrock-customization path's answers: the base model and the custom model answer the held-out
questions on Bedrock, for the evaluation gate (lambdas/finetune_gate) to judge."""
