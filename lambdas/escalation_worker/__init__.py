"""The escalation worker (deployed by stacks/escalation_stack.py): reads the workflow's internal work queue,
keeps the task tokens server-side, mails the experts and writes the customer's notices."""
