"""Bundle size: every Lambda asset bundled exactly as the CDK construct bundles it, then measured.

For each folder of lambdas/ that has a handler.py, stacks.constructs.python_function.PipBundler (the construct's
local bundler: pip install of the function's requirements.lock for the Lambda runtime's Python and architecture,
then the `lambdas` package with `common` and the function's folder, then pruning) bundles into a temporary
directory. Reported: the unzipped size (sum of file sizes, which is what Lambda's 250 MB limit counts), the
zipped size (ZIP_DEFLATED at zlib's default level, as cdk-assets' zipDirectory writes a directory asset with
archiver's defaults), and the largest top-level entries of the bundle (a package and its `.libs` folder and
`.dist-info` counted together).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import ROOT, table, verdict

MB = 1_000_000
TARGETS_MB = {"chatbot": 160}  # unzipped
TOP = 10


def _cdk_environment() -> None:
    """What the Makefile sets for jsii (aws-cdk-lib's runtime): a Node >= 22 from node_modules when present."""
    node_bins = sorted((ROOT / "node_modules").glob("node-linux-*/bin"))
    if node_bins and str(node_bins[0]) not in os.environ.get("PATH", ""):
        os.environ["PATH"] = f"{node_bins[0]}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")


@contextlib.contextmanager
def quiet_stderr():
    """Keeps pip's warnings (about this machine's extra index locations) out of the report; shows them on failure."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace")[-5000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def functions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "lambdas").glob("*/handler.py"))


def files_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(directory: Path, archive: Path) -> int:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    return archive.stat().st_size


def distribution_key(name: str) -> str:
    """numpy, numpy.libs and numpy-2.3.0.dist-info all count as `numpy`."""
    if name.endswith(".dist-info"):
        name = name[: -len(".dist-info")].rsplit("-", 1)[0]
    name = name.removesuffix(".libs").removesuffix(".py")
    if name.endswith(".so"):
        name = name.split(".", 1)[0]
    return name.lower().replace("-", "_")


def top_entries(directory: Path) -> list[tuple[str, int]]:
    sizes: dict[str, int] = {}
    for entry in directory.iterdir():
        size = files_size(entry) if entry.is_dir() else entry.stat().st_size
        key = distribution_key(entry.name)
        sizes[key] = sizes.get(key, 0) + size
    return sorted(sizes.items(), key=lambda kv: -kv[1])


def run() -> str:
    _cdk_environment()
    from stacks.constructs.python_function import ARCHITECTURE, RUNTIME, PipBundler

    summary = []
    sections = []
    for function_dir in functions():
        name = function_dir.name
        with tempfile.TemporaryDirectory(prefix=f"bench-bundle-{name}-") as tmp:
            out = Path(tmp) / "asset"
            out.mkdir()
            started = time.perf_counter()
            with quiet_stderr():
                PipBundler(function_dir, runtime=RUNTIME, architecture=ARCHITECTURE).try_bundle(str(out), image=None)
            bundle_seconds = time.perf_counter() - started
            unzipped = files_size(out)
            zipped = zipped_size(out, Path(tmp) / "asset.zip")
            files = sum(1 for p in out.rglob("*") if p.is_file())
            top = top_entries(out)
        target = TARGETS_MB.get(name)
        summary.append([f"lambdas/{name}", f"{RUNTIME.name} {ARCHITECTURE.name}", files, f"{unzipped / MB:.1f}",
                        f"{zipped / MB:.1f}", f"<= {target} MB" if target else "-",
                        verdict(unzipped / MB, target) if target else "-", f"{bundle_seconds:.0f} s"])
        rest = sum(size for _, size in top[TOP:])
        rows = [[key, f"{size / MB:.1f}", f"{100 * size / unzipped:.0f}%"] for key, size in top[:TOP]]
        rows.append([f"({len(top) - TOP} others)", f"{rest / MB:.1f}", f"{100 * rest / unzipped:.0f}%"])
        sections += ["", f"Largest top-level packages of lambdas/{name} (unzipped):", "",
                     table(["package", "MB", "share"], rows)]
    head = table(["function", "runtime", "files", "unzipped MB", "zipped MB", "target (unzipped)", "result",
                  "bundling took"], summary)
    return "\n".join(["MB = 10^6 bytes. Lambda's limit: 250 MB unzipped.", "", head, *sections])


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
