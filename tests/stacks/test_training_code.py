"""The fine-tuning job's source archive (stacks/constructs/training_code.py): layout, entry point, reproducibility,
and the asset CDK makes of it, built on a small stand-in tree so the test does not depend on training/'s code."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.constructs.training_code import (
    ARCHIVE_NAME,
    ROOT,
    TrainingCode,
    TrainingCodeBundler,
    build_archive,
    source_files,
    source_hash,
)

# The stand-in package records how it was started, and imports the shared modules the real one needs.
MAIN = """import json, sys
from lambdas.common import training_data
with open("started.json", "w") as out:
    json.dump({"argv": sys.argv[1:], "shared": training_data.NAME}, out)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "training/__init__.py": "", "training/__main__.py": MAIN, "training/cli.py": "# cli\n",
        "training/README.md": "# job\n", "training/requirements.txt": "trl==1.16.0\n",
        "training/tests/test_cli.py": "", "training/__pycache__/cli.cpython-311.pyc": "x",
        "training/sub/__pycache__/x.pyc": "x", "training/.DS_Store": "x", "training/stray.pyc": "x",
        "lambdas/__init__.py": "", "lambdas/common/__init__.py": "", "lambdas/common/feedback.py": "",
        "lambdas/common/thumbs.py": "", "lambdas/common/training_data.py": "NAME = 'training_data'\n",
        "lambdas/common/transcript.py": "", "lambdas/common/expert_answers.py": "",
        "lambdas/common/text_normalization.py": "",
        "lambdas/chatbot/handler.py": "",
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    return tmp_path


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_archive_has_the_contract_layout(tree):
    assert set(members(build_archive(tree))) == {
        "train.py", "requirements.txt",
        "training/__init__.py", "training/__main__.py", "training/cli.py", "training/README.md",
        "training/requirements.txt",
        "lambdas/__init__.py", "lambdas/common/__init__.py", "lambdas/common/feedback.py",
        "lambdas/common/thumbs.py", "lambdas/common/expert_answers.py", "lambdas/common/transcript.py",
        "lambdas/common/text_normalization.py", "lambdas/common/training_data.py",
    }


def test_requirements_are_the_training_packages(tree):
    assert members(build_archive(tree))["requirements.txt"] == b"trl==1.16.0\n"


def test_train_py_runs_the_training_package_with_the_hyperparameters(tree, tmp_path_factory):
    unpacked = tmp_path_factory.mktemp("opt_ml_code")
    with tarfile.open(fileobj=io.BytesIO(build_archive(tree)), mode="r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    # As SageMaker's training toolkit does: python train.py --name value ... from the unpacked directory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "train.py", "--epochs", "3", "--learning_rate", "1e-5"], cwd=unpacked,
                   env=env, check=True, timeout=60)
    started = json.loads((unpacked / "started.json").read_text())
    assert started == {"argv": ["--epochs", "3", "--learning_rate", "1e-5"], "shared": "training_data"}


def test_the_archive_is_reproducible(tree):
    first = build_archive(tree)
    os.utime(tree / "training" / "cli.py", (1, 1))  # a new checkout: other file times, same contents
    assert build_archive(tree) == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert {(m.mtime, m.uid, m.gid, m.mode) for m in tar.getmembers()} == {(0, 0, 0, 0o644)}


def test_the_hash_follows_what_is_shipped_only(tree):
    before = source_hash(tree)
    (tree / "training" / "__pycache__" / "new.pyc").write_text("y")
    (tree / "lambdas" / "common" / "escalations.py").write_text("# not shipped\n")
    assert source_hash(tree) == before
    (tree / "lambdas" / "common" / "training_data.py").write_text("NAME = 'changed'\n")
    assert source_hash(tree) != before


@pytest.mark.parametrize("missing", ["training/__main__.py", "lambdas/common/training_data.py",
                                     "training/requirements.txt"])
def test_a_missing_input_is_named(tree, missing):
    (tree / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.rsplit("/", 1)[-1]):
        build_archive(tree)


def test_the_bundler_leaves_exactly_one_file(tree, tmp_path_factory):
    output = tmp_path_factory.mktemp("bundle")
    assert TrainingCodeBundler(tree).try_bundle(str(output), image=None) is True
    assert [p.name for p in output.iterdir()] == [ARCHIVE_NAME]
    assert "train.py" in members((output / ARCHIVE_NAME).read_bytes())


def test_the_asset_is_the_archive_itself(tree, tmp_path_factory):
    """Bundled for real (no Docker): the asset is one file, uploaded as is, not zipped again."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Code")
    code = TrainingCode(stack, "TrainingCode", root=tree)
    cdk.CfnOutput(stack, "Uri", value=code.s3_uri)
    app.synth()
    (asset,) = [a for a in json.loads((outdir / "Code.assets.json").read_text())["files"].values()
                if a["displayName"] == "TrainingCode/Archive"]
    assert asset["source"]["packaging"] == "file"
    assert asset["source"]["path"].endswith(".tar.gz")
    assert members((outdir / asset["source"]["path"]).read_bytes()) == members(build_archive(tree))
    (destination,) = asset["destinations"].values()
    assert destination["objectKey"].endswith(".gz")  # the toolkit untars whatever the key's suffix
    uri = json.loads((outdir / "Code.template.json").read_text())["Outputs"]["Uri"]["Value"]
    assert uri["Fn::Sub"].endswith(f"/{destination['objectKey']}")


def test_the_real_training_package_ships_its_entry_point_and_shared_modules():
    names = set(source_files(ROOT))
    assert {"training/__main__.py", "training/cli.py", "requirements.txt", "lambdas/common/training_data.py",
            "lambdas/common/feedback.py", "lambdas/common/thumbs.py"} <= names
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n or n.endswith(".pyc")]


def test_the_shipped_dataset_builder_imports_with_nothing_but_the_archive_and_the_standard_library(tmp_path):
    # The job's image has no boto3 guarantee and none of Tandem's other modules: what training_data imports
    # must be in the archive and pure.
    archive = members(build_archive(ROOT))
    for name, body in archive.items():
        if name.startswith("lambdas/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(body)
    blocker = "import sys; sys.modules.update(boto3=None, botocore=None)"
    result = subprocess.run([sys.executable, "-I", "-c", f"{blocker}; import sys; sys.path.insert(0, '.'); "
                             "import lambdas.common.training_data"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
