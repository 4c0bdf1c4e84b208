"""The `edgemask` command. Each subpackage registers its own subcommands.

Subpackages are imported lazily per command so that, for example, `edgemask serve`
never imports torch and `edgemask export` is the only command that needs it.
"""

import argparse
import importlib
import sys

from edgemask import __version__

# module that defines register(subparsers) -> adds its subcommands (and maybe extend(subparsers))
_COMMAND_MODULES = (
    "edgemask.export.cli",
    "edgemask.runtime.cli",
    "edgemask.webui.cli",
)


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgemask",
        description="Click-to-mask annotation for segmentation datasets, "
        "with SAM and EfficientViT-SAM exported to ONNX (no PyTorch at run time).",
    )
    parser.add_argument("--version", action="version", version=f"edgemask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subpackage not written yet
            if exc.name and exc.name.startswith("edgemask"):
                continue
            raise
        module.register(sub)
        modules.append(module)
    # then extend(subparsers) -> adds to other subpackages' commands (the lower one never imports
    # the upper: e.g. export gives runtime's `bench --checkpoint` its PyTorch side)
    for module in modules:
        if hasattr(module, "extend"):
            module.extend(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except UserError as exc:
        print(f"edgemask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
