"""The fine-tuning pipeline's dataset Lambda (deployed by stacks/finetune_stack.py): rating records -> reward,
KTO and Bedrock model-customization files, with a report of what was left out and why."""
