"""Fetches the pinned onnxruntime-web from the npm registry into webui/static/vendor/onnxruntime-web/.

    python scripts/fetch_onnxruntime_web.py            # fetch, verify, copy
    python scripts/fetch_onnxruntime_web.py --check    # verify the committed files only

`npm pack onnxruntime-web@VERSION` downloads the package tarball (the registry's own client, no CDN);
the tarball's sha512 must be the registry's `integrity` pinned below and every copied file its pinned
sha256. Only the wasm backend is copied: the ES-module API (ort.wasm.min.mjs) and the multithreaded
SIMD runtime (ort-wasm-simd-threaded.mjs + .wasm); WebGPU / WebGL / JSEP builds are left out.
To update: change VERSION, run with --update-pins (prints the new pins after fetching), paste them
here, run again, commit the folder (webui/static/vendor/onnxruntime-web/README.md says the sizes).
"""

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "onnxruntime-web"
VERSION = "1.31.1"
# `npm view onnxruntime-web@VERSION dist.integrity`
INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
FILES = {  # path inside the tarball's package/dist -> sha256
    "ort.wasm.min.mjs": "c21d9c326d453a4a61398270c804d5979e118540597cb0c07f7b3d64e6098234",
    "ort-wasm-simd-threaded.mjs": "30ed0b5cd1182ede931fea448afb567d4dc705ec957af09f108a2be5f770dac3",
    "ort-wasm-simd-threaded.wasm": "4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d",
}
DEST = Path(__file__).resolve().parents[1] / "webui" / "static" / "vendor" / "onnxruntime-web"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(workdir: Path, update_pins: bool = False) -> Path:
    """The registry tarball of PACKAGE@VERSION, checked against INTEGRITY (printed with update_pins)."""
    out = subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(workdir)],
                         capture_output=True, text=True, check=True)
    filename = json.loads(out.stdout)[0]["filename"]
    tarball = workdir / filename
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if update_pins:
        print(f'INTEGRITY = "{digest}"')
    elif digest != INTEGRITY:
        raise SystemExit(f"{filename} has {digest}, not the pinned {INTEGRITY}: refusing to use it.")
    return tarball


def extract(tarball: Path, update_pins: bool) -> dict:
    """{name: bytes} of FILES from the tarball, each checked against its pin (printed with update_pins)."""
    found = {}
    with tarfile.open(tarball) as tar:
        for name in FILES:
            member = tar.extractfile(f"package/dist/{name}")
            if member is None:
                raise SystemExit(f"{tarball.name} has no dist/{name}.")
            found[name] = member.read()
    for name, data in found.items():
        if update_pins:
            print(f'    "{name}": "{sha256(data)}",')
        elif sha256(data) != FILES[name]:
            raise SystemExit(f"dist/{name} has sha256 {sha256(data)}, not the pinned {FILES[name]}.")
    return found


def check(dest: Path = DEST) -> list:
    """Problems with the committed files (empty when every file is there with its pinned sha256)."""
    problems = []
    for name, digest in FILES.items():
        path = dest / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{path} does not have the pinned sha256")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files, fetch nothing")
    parser.add_argument("--update-pins", action="store_true", help="print the sha256 pins of VERSION's files")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or f"{PACKAGE} {VERSION}: {len(FILES)} files match their pins.")
        return 1 if problems else 0
    with tempfile.TemporaryDirectory() as tmp:
        files = extract(npm_pack(Path(tmp), args.update_pins), args.update_pins)
    if args.update_pins:
        return 0
    DEST.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (DEST / name).write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"{PACKAGE} {VERSION}: {len(files)} files, {total} bytes in {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
