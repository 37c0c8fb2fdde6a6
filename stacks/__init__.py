"""CDK stacks of Tandem. Each stack module names the Lambda folder it deploys."""
