"""Ground Truth's pre-annotation Lambda (deployed by stacks/feedback_stack.py): turns one input-manifest line
(a LabelingItem) into the template's task input, and spares the raters items that need no human."""
