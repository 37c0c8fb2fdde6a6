"""The evaluation gate's input: the base and the tuned model's answers to the held-out questions.

Used by training/job.py after training. The first `gate_questions` distinct held-out questions (sessions never
trained on) are answered greedily, at most `max_response_length` tokens (the length training allows an
answer), by the tuned model and by the base (the same PEFT model with its adapter disabled), with the prompt
format training used (training/generation.py, training/scoring.py). The job writes them beside metrics.json
as gate_answers.jsonl, one JSON object per question, in the format the gate reads
(lambdas/finetune_gate/answers.py):

    {"schema_version": 1, "question_id": "held-out-0001", "question": "...", "base_answer": "...",
     "tuned_answer": "...", "system": "..."}

The answers are written here, where the model is; the judge runs on Bedrock, in the pipeline's gate step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training import generation
from training.config import Hyperparameters

ANSWERS_FILE = "gate_answers.jsonl"
SCHEMA_VERSION = 1


def answer_both(peft_model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
                is_encoder_decoder: bool, device) -> list[dict[str, Any]]:
    """One line per distinct held-out question: what the base and the tuned model answer to it."""
    prompts = generation.held_out_prompts(rows, hparams.gate_questions)
    if not prompts:
        return []
    settings = {"is_encoder_decoder": is_encoder_decoder, "device": device,
                "max_prompt_length": hparams.max_prompt_length, "max_new_tokens": hparams.max_response_length}
    tuned = generation.generate(peft_model, tokenizer, prompts, **settings)
    with peft_model.disable_adapter():
        base = generation.generate(peft_model, tokenizer, prompts, **settings)
    lines = []
    for index, (prompt, base_answer, tuned_answer) in enumerate(zip(prompts, base, tuned, strict=True), start=1):
        line = {"schema_version": SCHEMA_VERSION, "question_id": f"held-out-{index:04d}", "question": prompt.prompt,
                "base_answer": base_answer.text.strip(), "tuned_answer": tuned_answer.text.strip()}
        if prompt.system:
            line["system"] = prompt.system
        lines.append(line)
    return lines


def write(output: Path, lines: list[dict[str, Any]]) -> Path:
    path = Path(output) / ANSWERS_FILE
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path
