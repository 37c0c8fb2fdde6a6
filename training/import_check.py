"""Would Amazon Bedrock Custom Model Import load this merged model, and could Tandem's chatbot call it?

Checks the folder training/outputs.py writes (merged/: safetensors weights, config.json, tokenizer files)
against what Bedrock's import guide documents, before an import job is started, so a model that would not
load (or would load and answer wrongly) is refused with the reason and the fix. Standard library only: it runs
in the training job and on a downloaded folder:

    python -m training.import_check out/merged [--instruct | --base BASE_DIR] [--json] [--write-compatible]

exits 0 when the folder is importable, 1 when refused (2 for a usage error). `--write-compatible` first adds
the keys the guide's transformers version reads (see make_compatible), as training/outputs.py does.

The verdict (written as import_check.json beside metrics.json; its shape is stable, the pipeline's gate reads it):

    {"importable": bool,                         # true exactly when "problems" is empty
     "problems": [{"check", "detail", "fix"}],   # each one stops the import
     "warnings": [{"check", "detail", "fix"}],   # worth reading; none stops it
     "instruct": bool,                           # whether a chat template was required
     "architecture": {"model_type", "architectures", "family", "converse", "encoder_decoder",
                      "context_length", "transformers_version"},
     "files": {"weights", "weights_bytes", "config", "tokenizer_config", "tokenizer", "chat_template"},
     "rules": {"checked", "sources", "guide_transformers_version", "max_weights_bytes", "max_context_tokens"}}

`check` names: files.folder, files.adapter, files.weights, files.config, files.tokenizer_config,
files.tokenizer, weights.size, architecture, converse, context_length, chat_template, chat_template.tokenizer_config, config.torch_dtype,
config.rope, tokenizer.class, transformers_version. training/README.md ("Import check") gives each rule's source.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERDICT_FILE = "import_check.json"

# Where the rules come from, and when they were last read. Read them again before trusting a new family.
RULES_CHECKED = "2026-12-01"
SOURCES = {
    "import": "https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-import-model.html",
    "converse": "https://docs.aws.amazon.com/bedrock/latest/userguide/invoke-imported-model.html",
    "chat_templates": "https://docs.aws.amazon.com/bedrock/latest/userguide/custom-chat-templates-tokenizers.html",
}


@dataclass(frozen=True)
class Architecture:
    family: str  # as the import guide names it
    classes: frozenset[str]  # config.json "architectures": the text-generation heads of that family
    converse: bool  # whether Converse serves an imported model of this family


# The import guide's supported architectures (read 2026-12-01, docs/AWS-CONTRACTS.md), by config.json model_type.
# Converse: the invoke guide says it does not serve imported Qwen2.5, Qwen2-VL, Qwen2.5-VL and GPT-OSS models,
# and AWS-CONTRACTS.md adds Qwen3. Qwen2 and Qwen2.5 share model_type "qwen2", so both count as Qwen2.5 here.
SUPPORTED_ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture("Llama 2, 3, 3.1, 3.2, 3.3", frozenset({"LlamaForCausalLM"}), True),
    "mllama": Architecture("Mllama (Llama 3.2 Vision)", frozenset({"MllamaForConditionalGeneration",
                                                                   "MllamaForCausalLM"}), True),
    "mistral": Architecture("Mistral", frozenset({"MistralForCausalLM"}), True),
    "mixtral": Architecture("Mixtral", frozenset({"MixtralForCausalLM"}), True),
    "t5": Architecture("Flan (T5)", frozenset({"T5ForConditionalGeneration"}), True),
    "gpt_bigcode": Architecture("GPTBigCode", frozenset({"GPTBigCodeForCausalLM"}), True),
    "qwen2": Architecture("Qwen2, Qwen2.5", frozenset({"Qwen2ForCausalLM"}), False),
    "qwen2_vl": Architecture("Qwen2-VL", frozenset({"Qwen2VLForConditionalGeneration"}), False),
    "qwen2_5_vl": Architecture("Qwen2.5-VL", frozenset({"Qwen2_5_VLForConditionalGeneration"}), False),
    "qwen3": Architecture("Qwen3", frozenset({"Qwen3ForCausalLM"}), False),
    "qwen3_moe": Architecture("Qwen3 MoE", frozenset({"Qwen3MoeForCausalLM"}), False),
    "gpt_oss": Architecture("GPT-OSS 20B/120B (us-east-1)", frozenset({"GptOssForCausalLM"}), False),
}
CONVERSE_FAMILIES = ", ".join(a.family for a in SUPPORTED_ARCHITECTURES.values() if a.converse)

MAX_WEIGHTS_BYTES = 200 * 10**9  # "less than 200 GB": decimal gigabytes, the stricter reading
MAX_CONTEXT_TOKENS = 128 * 1024  # "128K": Llama 3.1-3.3 (131072 positions) are on the list, so 131072 is within
GUIDE_TRANSFORMERS_VERSION = "4.51.3"  # the version the import guide recommends training with
# Tokenizer classes transformers 5 writes that 4.51.3 cannot load ("Tokenizer class ... does not exist").
TRANSFORMERS_5_TOKENIZER_CLASSES = frozenset({"TokenizersBackend", "SentencePieceBackend", "PythonBackend",
                                              "MistralCommonBackend"})
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")  # Bedrock prefers these to tokenizer_config's
MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors format's own limit on its JSON header


class _Findings:
    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []
        self.warnings: list[dict[str, str]] = []

    def problem(self, check: str, detail: str, fix: str) -> None:
        self.problems.append({"check": check, "detail": detail, "fix": fix})

    def warning(self, check: str, detail: str, fix: str) -> None:
        self.warnings.append({"check": check, "detail": detail, "fix": fix})


def check(folder: Path | str, *, instruct: bool = False) -> dict[str, Any]:
    """The verdict on a merged model folder. instruct: the base model is a chat model (its tokenizer carries a
    chat template), so the merged folder must carry one too; training/job.py passes what the base tokenizer had."""
    folder = Path(folder)
    found = _Findings()
    files: dict[str, Any] = {"weights": [], "weights_bytes": 0, "config": False, "tokenizer_config": False,
                             "tokenizer": [], "chat_template": None}
    architecture: dict[str, Any] = {"model_type": None, "architectures": None, "family": None, "converse": None,
                                    "encoder_decoder": None, "context_length": None, "transformers_version": None}
    if not folder.is_dir():
        found.problem("files.folder", f"{folder} is not a directory",
                      "give the merged/ folder the training job writes (hyperparameter merge=true)")
        return _verdict(found, instruct, architecture, files)

    _check_weights(folder, files, found)
    config = _read_json(folder, "config.json", "files.config", found)
    tokenizer_config = _read_json(folder, "tokenizer_config.json", "files.tokenizer_config", found)
    files["config"], files["tokenizer_config"] = config is not None, tokenizer_config is not None
    files["tokenizer"] = [name for name in ("tokenizer.json", "tokenizer.model") if (folder / name).is_file()]
    if not files["tokenizer"]:
        found.problem("files.tokenizer", "neither tokenizer.json nor tokenizer.model is in the folder: the import "
                                         "guide asks for the tokenizer files with the weights",
                      "save the tokenizer with the model (tokenizer.save_pretrained(folder))")
    files["chat_template"] = chat_template_source(folder, tokenizer_config)

    if config is not None:
        _check_architecture(config, architecture, found)
        _check_config_keys(config, found)
        _check_context(config, architecture, found)
    if tokenizer_config is not None:
        _check_tokenizer_class(tokenizer_config, "tokenizer.json" in files["tokenizer"], found)
    _check_chat_template(files["chat_template"], instruct, architecture, found,
                         embedded=bool(tokenizer_config and tokenizer_config.get("chat_template")))
    return _verdict(found, instruct, architecture, files)


def chat_template_source(folder: Path, tokenizer_config: dict[str, Any] | None) -> str | None:
    """Which file carries the chat template, as Bedrock looks for it: chat_template.jinja or .json (transformers
    5 writes the .jinja), else tokenizer_config.json's chat_template; None without one."""
    for name in CHAT_TEMPLATE_FILES:
        path = folder / name
        if path.is_file() and path.read_text(encoding="utf-8").strip():
            return name
    if tokenizer_config and tokenizer_config.get("chat_template"):
        return "tokenizer_config.json"
    return None


def make_compatible(folder: Path | str) -> list[str]:
    """Adds, beside what transformers 5 wrote, the keys transformers 4.51.3 (the import guide's version) reads
    instead: torch_dtype, rope_theta and rope_scaling in config.json, and a tokenizer_class it knows in
    tokenizer_config.json. Transformers 5 reads the folder as before (it prefers dtype and rope_parameters, and
    loads PreTrainedTokenizerFast as its own tokenizers backend). Returns what was changed."""
    folder = Path(folder)
    changes: list[str] = []
    config_path = folder / "config.json"
    config = _load(config_path)
    if config is not None:
        changed = False
        if config.get("dtype") is not None and "torch_dtype" not in config:
            config["torch_dtype"] = config["dtype"]
            changes.append(f'config.json: "torch_dtype": {json.dumps(config["dtype"])}')
            changed = True
        rope = _rope_keys_4_51(config)
        if rope is not None and any(config.get(key) != value for key, value in rope.items()):
            config.update(rope)
            changes.append(f"config.json: {json.dumps(rope, sort_keys=True)}")
            changed = True
        if changed:
            _write(config_path, config)
    tokenizer_path = folder / "tokenizer_config.json"
    tokenizer_config = _load(tokenizer_path)
    if (tokenizer_config is not None and tokenizer_config.get("tokenizer_class") == "TokenizersBackend"
            and (folder / "tokenizer.json").is_file()):
        tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
        _write(tokenizer_path, tokenizer_config)
        changes.append('tokenizer_config.json: "tokenizer_class": "PreTrainedTokenizerFast"')
    template = _separate_chat_template(folder)
    if tokenizer_config is not None and template and not tokenizer_config.get("chat_template"):
        # Bedrock's Converse samples for imported models ask for the template inside tokenizer_config.json;
        # the separate file (what transformers 5 writes) still takes precedence where both are read.
        tokenizer_config["chat_template"] = template
        _write(tokenizer_path, tokenizer_config)
        changes.append("tokenizer_config.json: chat_template (copied from the separate template file)")
    return changes


def _separate_chat_template(folder: Path) -> str | None:
    """The template of chat_template.jinja or chat_template.json, the first that holds one."""
    for name in CHAT_TEMPLATE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if name.endswith(".json"):
            try:
                text = json.loads(text).get("chat_template") or ""
            except (ValueError, AttributeError):
                text = ""
        if isinstance(text, str) and text.strip():
            return text
    return None


def write_verdict(output: Path | str, verdict: dict[str, Any]) -> Path:
    path = Path(output) / VERDICT_FILE
    path.write_text(json.dumps(verdict, indent=2) + "\n")
    return path


def summary(verdict: dict[str, Any]) -> str:
    """A few lines for a person: the verdict, then each problem and warning with its fix."""
    model = verdict["architecture"]
    head = "importable" if verdict["importable"] else "NOT importable"
    lines = [f"{head}: {model['family'] or model['model_type'] or 'unknown model'}"]
    for kind, entries in (("problem", verdict["problems"]), ("warning", verdict["warnings"])):
        for entry in entries:
            lines.append(f"{kind} [{entry['check']}]: {entry['detail']}")
            lines.append(f"    fix: {entry['fix']}")
    return "\n".join(lines)


def _check_weights(folder: Path, files: dict[str, Any], found: _Findings) -> None:
    if (folder / "adapter_config.json").is_file():
        found.problem("files.adapter", "the folder holds a LoRA adapter (adapter_config.json): Custom Model Import "
                                       "takes the full model's weights",
                      "import the merged/ folder the training job writes beside adapter/ (hyperparameter merge=true)")
    weights = sorted(path for path in folder.glob("*.safetensors") if path.name != "adapter_model.safetensors")
    files["weights"] = [path.name for path in weights]
    files["weights_bytes"] = sum(path.stat().st_size for path in weights)
    if not weights:
        pickled = sorted(path.name for path in folder.glob("*.bin"))
        detail = "no .safetensors weights in the folder" + (f" (only {', '.join(pickled)}, PyTorch pickle files)"
                                                            if pickled else "")
        found.problem("files.weights", f"{detail}: the import guide takes weights in the safetensors format",
                      "save the model with save_pretrained (transformers writes safetensors)")
        return
    unreadable = [path.name for path in weights if not _is_safetensors(path)]
    if unreadable:
        found.problem("files.weights", f"{', '.join(unreadable)}: not a whole safetensors file (a truncated upload, "
                                       "or a Git LFS pointer instead of the weights)",
                      "copy the weights again from the training job's output")
    index = _load(folder / "model.safetensors.index.json")
    if index is not None:
        named = {name for name in (index.get("weight_map") or {}).values() if isinstance(name, str)}
        missing = sorted(named - {path.name for path in weights})
        if missing:
            found.problem("files.weights", f"model.safetensors.index.json names shards that are not in the folder: "
                                           f"{', '.join(missing)}", "copy every shard the index names")
    if files["weights_bytes"] >= MAX_WEIGHTS_BYTES:
        found.problem("weights.size", f"the weights take {files['weights_bytes']:,} bytes; the import guide takes "
                                      f"less than 200 GB ({MAX_WEIGHTS_BYTES:,} bytes)",
                      "fine-tune a smaller base model")


def _is_safetensors(path: Path) -> bool:
    """The header parses and the file holds exactly the tensor bytes it promises (the format leaves no gaps)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_SAFETENSORS_HEADER, size - 8):
            return False
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError):
            return False
    if not isinstance(header, dict):
        return False
    ends = [entry.get("data_offsets", [0, 0])[1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict)]
    return size == 8 + length + max(ends, default=0)


def _check_architecture(config: dict[str, Any], architecture: dict[str, Any], found: _Findings) -> None:
    model_type = config.get("model_type")
    classes = config.get("architectures")
    architecture.update(model_type=model_type, architectures=classes,
                        encoder_decoder=bool(config.get("is_encoder_decoder", False)),
                        transformers_version=config.get("transformers_version"))
    supported = SUPPORTED_ARCHITECTURES.get(model_type) if isinstance(model_type, str) else None
    if supported is None:
        found.problem("architecture", f"model_type {json.dumps(model_type)} is not an architecture Custom Model "
                                      f"Import supports ({', '.join(sorted(SUPPORTED_ARCHITECTURES))})",
                      "fine-tune a base model of a supported family (Tandem trains Flan-T5 and Llama-family models)")
        return
    architecture.update(family=supported.family, converse=supported.converse)
    if not classes:
        found.warning("architecture", 'config.json names no "architectures": Bedrock detects the architecture '
                                      "from the model's files", f'add "architectures": ["{min(supported.classes)}"]')
    elif not set(classes) <= supported.classes:
        found.problem("architecture", f"architectures {json.dumps(classes)} is not a text-generation model of the "
                                      f"{supported.family} family (expected {', '.join(sorted(supported.classes))})",
                      "merge the adapter into the generation model (AutoModelForCausalLM or "
                      "AutoModelForSeq2SeqLM), as training/outputs.py does")
    if not supported.converse:
        found.problem("converse", f"Converse does not serve imported {supported.family} models, and Tandem's "
                                  "chatbot calls its model through Converse",
                      f"fine-tune a base model of a family Converse serves: {CONVERSE_FAMILIES}")
    if model_type == "t5" and config.get("feed_forward_proj", "gated-gelu") != "gated-gelu":
        found.warning("architecture", f"this T5 uses a {config.get('feed_forward_proj')} feed-forward; Flan-T5, "
                                      "the T5 Bedrock names, uses gated-gelu (the T5 v1.1 layout)",
                      "check the import job's result, or fine-tune a Flan-T5 checkpoint")


def _check_config_keys(config: dict[str, Any], found: _Findings) -> None:
    version = config.get("transformers_version")
    if config.get("dtype") is not None and "torch_dtype" not in config:
        found.problem("config.torch_dtype", f'config.json has "dtype": {json.dumps(config["dtype"])} (transformers '
                                            f'5\'s key) but no "torch_dtype", the key transformers '
                                            f"{GUIDE_TRANSFORMERS_VERSION} (the import guide's version) reads the "
                                            "weights' precision from",
                      f'add "torch_dtype": {json.dumps(config["dtype"])} beside "dtype" in config.json '
                      "(python -m training.import_check DIR --write-compatible)")
    elif config.get("dtype") is None and config.get("torch_dtype") is None:
        found.warning("config.torch_dtype", "config.json records no precision (torch_dtype)",
                      'add "torch_dtype" with the weights\' dtype, e.g. "bfloat16"')
    rope = _rope_keys_4_51(config)
    if rope is not None and any(config.get(key) != value for key, value in rope.items()):
        found.problem("config.rope", 'config.json keeps the rotary embedding in "rope_parameters" (transformers 5) '
                                     'without matching "rope_theta" and "rope_scaling", which transformers '
                                     f"{GUIDE_TRANSFORMERS_VERSION} reads: it would fall back to its defaults, and a "
                                     "model such as Llama 3.1 (rope_theta 500000, llama3 scaling) would load and "
                                     "answer wrongly without any error",
                      f"add {json.dumps(rope, sort_keys=True)} to config.json "
                      "(python -m training.import_check DIR --write-compatible)")
    elif isinstance(config.get("rope_parameters"), dict) and rope is None and "rope_theta" not in config:
        found.problem("config.rope", 'config.json keeps per-layer "rope_parameters" (transformers 5) without the '
                                     f'"rope_theta" and "rope_scaling" transformers {GUIDE_TRANSFORMERS_VERSION} reads',
                      "write rope_theta and rope_scaling as the base model's own config.json has them")
    if version != GUIDE_TRANSFORMERS_VERSION:
        found.warning("transformers_version",
                      f"config.json was written by transformers {version or '(not recorded)'}; the import guide "
                      f"recommends {GUIDE_TRANSFORMERS_VERSION}. The differences known to matter (torch_dtype, "
                      "rope_theta/rope_scaling, tokenizer_class) are checked above; any other would show only in "
                      "the import job",
                      f"train with transformers {GUIDE_TRANSFORMERS_VERSION}, or rely on the checks above and "
                      "watch the import job")


def _rope_keys_4_51(config: dict[str, Any]) -> dict[str, Any] | None:
    """What transformers 4.51.3 reads for the rotary embedding that transformers 5's rope_parameters holds:
    rope_theta, and rope_scaling (the same parameters without rope_theta; null for the default rope).
    None when there is nothing to translate, or rope_parameters is per layer type (no single rope_theta)."""
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" not in rope:
        return None
    scaling = {key: value for key, value in rope.items() if key != "rope_theta"}
    return {"rope_theta": rope["rope_theta"],
            "rope_scaling": None if scaling.get("rope_type", "default") == "default" else scaling}


def _check_context(config: dict[str, Any], architecture: dict[str, Any], found: _Findings) -> None:
    text_config = config.get("text_config")  # Mllama and the VL models keep the text model's context there
    for source in (config, text_config if isinstance(text_config, dict) else {}):
        for key in ("max_position_embeddings", "n_positions"):
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                architecture["context_length"] = value
                if value > MAX_CONTEXT_TOKENS:
                    found.problem("context_length", f"{key} is {value:,} tokens; the import guide takes a context of "
                                                    f"at most 128K ({MAX_CONTEXT_TOKENS:,})",
                                  f"set {key} to {MAX_CONTEXT_TOKENS} or less in config.json (the model then reads "
                                  "at most that many tokens), or fine-tune a base model with a 128K context or less")
                return


def _check_tokenizer_class(tokenizer_config: dict[str, Any], has_tokenizer_json: bool, found: _Findings) -> None:
    name = tokenizer_config.get("tokenizer_class")
    if name not in TRANSFORMERS_5_TOKENIZER_CLASSES:
        return
    if name == "TokenizersBackend" and has_tokenizer_json:
        fix = ('set "tokenizer_class": "PreTrainedTokenizerFast" in tokenizer_config.json (the same tokenizer.json; '
               "python -m training.import_check DIR --write-compatible)")
    else:
        fix = ("set tokenizer_class to the class the base model's own tokenizer_config.json names "
               '(e.g. "LlamaTokenizer", "T5Tokenizer")')
    found.problem("tokenizer.class", f'tokenizer_config.json names "tokenizer_class": "{name}", a transformers 5 '
                                     f"class that transformers {GUIDE_TRANSFORMERS_VERSION} (the import guide's "
                                     "version) cannot load", fix)


def _check_chat_template(source: str | None, instruct: bool, architecture: dict[str, Any],
                         found: _Findings, *, embedded: bool) -> None:
    if source is not None and not embedded:
        # The chat-template page takes a separate file; the Converse samples for imported models ask for the
        # template in tokenizer_config.json. Both hold it in what the job writes (make_compatible).
        found.warning("chat_template.tokenizer_config",
                      f"the chat template is in {source} only: Bedrock's Converse samples for imported models ask "
                      "for it in tokenizer_config.json as chat_template",
                      "copy it into tokenizer_config.json (training.import_check.make_compatible does)")
    if source is not None:
        return
    where = "no chat_template.jinja, chat_template.json or chat_template in tokenizer_config.json"
    if instruct:
        found.problem("chat_template", f"the base is a chat (instruct) model, its tokenizer carries a chat "
                                       f"template, but the merged folder has none ({where}): Bedrock renders "
                                       "Converse messages with it",
                      "save the base tokenizer with the merged model (tokenizer.save_pretrained writes "
                      "chat_template.jinja), or copy the base model's chat template into the folder")
    elif architecture["model_type"] is not None and not architecture["encoder_decoder"]:
        found.warning("chat_template", f"a causal model without a chat template ({where}): Converse renders "
                                       "messages with the model's template, and how Bedrock prompts a model without "
                                       "one is not documented; the training rendered plain text",
                      "fine-tune an instruct model (one with a chat template) for the chatbot")


def _read_json(folder: Path, name: str, check_name: str, found: _Findings) -> dict[str, Any] | None:
    path = folder / name
    if not path.is_file():
        found.problem(check_name, f"{name} is missing: the import guide asks for it with the weights",
                      "save the model and its tokenizer with save_pretrained into the same folder")
        return None
    data = _load(path)
    if data is None:
        found.problem(check_name, f"{name} is not a JSON object", f"write {name} again (save_pretrained)")
    return data


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, data: dict[str, Any]) -> None:
    # As transformers writes these files: sorted keys, two-space indent, text kept as text (chat templates).
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _verdict(found: _Findings, instruct: bool, architecture: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
    return {"importable": not found.problems, "problems": found.problems, "warnings": found.warnings,
            "instruct": instruct, "architecture": architecture, "files": files,
            "rules": {"checked": RULES_CHECKED, "sources": SOURCES,
                      "guide_transformers_version": GUIDE_TRANSFORMERS_VERSION,
                      "max_weights_bytes": MAX_WEIGHTS_BYTES, "max_context_tokens": MAX_CONTEXT_TOKENS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.import_check", allow_abbrev=False,
        description="Check a merged model folder against what Amazon Bedrock Custom Model Import documents. "
                    "Exit code 0: importable; 1: refused (each problem with its fix); 2: usage error.")
    parser.add_argument("folder", type=Path, help="the merged/ folder (config.json, *.safetensors, tokenizer files)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--instruct", action="store_true",
                      help="the base is a chat (instruct) model: require a chat template")
    kind.add_argument("--base", type=Path, metavar="BASE_DIR",
                      help="the base model's folder: require a chat template when the base has one")
    parser.add_argument("--write-compatible", action="store_true",
                        help="first add the keys transformers 4.51.3 reads (torch_dtype, rope_theta, rope_scaling, "
                             "tokenizer_class) to the folder's JSON files")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args(argv)
    instruct = args.instruct
    if args.base is not None:
        instruct = chat_template_source(args.base, _load(args.base / "tokenizer_config.json")) is not None
    if args.write_compatible and args.folder.is_dir():
        for change in make_compatible(args.folder):
            print(f"wrote {change}", file=sys.stderr)
    verdict = check(args.folder, instruct=instruct)
    print(json.dumps(verdict, indent=2) if args.json else summary(verdict))
    return 0 if verdict["importable"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
