"""Tandem's fine-tuning job: LoRA on a chatbot model from expert ratings (issue 5).

Run as `python -m training ...` locally and as a SageMaker training job (the real job fine-tunes Flan-T5 XL
or a Llama-family model on a GPU). The tests train tiny randomly initialised models built from small configs,
a simulation of the pipeline, not of the quality a real model reaches. Modules: cli (arguments, SM_* paths),
config (hyperparameters), data (row files), modeling (model, tokenizer, LoRA), scoring (tokens and
log-probs), reward_pg and kto (the two algorithms), evaluation (held-out margin), outputs (adapter, merged
model, metrics.json, plot), import_check (would Bedrock import the merged model), job (one run, the
in-process entry point).

Nothing heavy is imported here, so `python -m training --help` stays fast.
"""
