"""The chatbot function (deployed by stacks/chatbot_stack.py): answers with Bedrock, gated for escalation."""
