"""Code shared by Tandem's Lambda functions: the conversation formats, storage and AWS client getters."""
