"""What every sub-command shares: its declaration, argument parsing, logging and exit statuses.

A sub-command is one module of ``fairvision.commands`` holding a ``Command``: the `fairvision`
console script (``fairvision.cli``) gathers them all, and DVC runs each stage's alone
(``python -m fairvision.commands.audit ...``), so a stage's code closure is its own command
module, this small core, the params schema and the stage's package, never the other stages' CLIs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from fairvision.errors import FairvisionError, causes, is_no_space
from fairvision.params import Dataset, Params, load_params

Run = Callable[[Any, argparse.Namespace], "int | None"]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with the command's ``error_status`` (argparse's 2 by default).

    `fairvision check` gives 1 and 2 meanings of its own (regression, inconclusive), so its bad
    arguments must not look like either to a CI job.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.get_default("error_status") or 2, f"{self.prog}: error: {message}\n")


@dataclasses.dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help, ``--help`` text, arguments and what it runs.

    ``params``: it reads params.yaml (a ``--params`` option; ``run`` gets the loaded ``Params``);
    ``one_dataset``: it works on one dataset (a ``--dataset`` option).
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Run
    params: bool = True
    one_dataset: bool = True
    error_status: int = 1  # the exit status of a failure (and, for `check`, of a usage error)

    def configure(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the shared options and this command's own to ``parser``."""
        parser.add_argument("--verbose", action="store_true",
                            help="show TensorFlow's start-up messages too (also shown when TF_CPP_MIN_LOG_LEVEL "
                                 "is set)")
        if self.params:
            parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
        if self.one_dataset:
            parser.add_argument("--dataset", metavar="D",
                                help="a key of params.yaml `datasets` (default: the only one there)")
        self.add_arguments(parser)
        parser.set_defaults(command=self, error_status=self.error_status)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run this command alone, as DVC does (``python -m fairvision.commands.<name>``)."""
        parser = self.configure(Parser(prog=f"fairvision {self.name}", description=self.description,
                                       formatter_class=argparse.RawDescriptionHelpFormatter))
        return execute(parser, argv)


def execute(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command and turn its failures into one line and an exit status."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported here, not by argparse, so that the command's own usage-error status applies
        parser.print_usage(sys.stderr)
        parser.exit(getattr(args, "error_status", 2), f"{parser.prog}: error: unrecognized arguments: "
                                                       f"{' '.join(unknown)}\n")
    command: Command = args.command
    if not args.verbose and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's info and warnings; never a value the user set
        os.environ[_QUIET] = "1"
    logging.basicConfig(level=logging.INFO, format="fairvision: %(message)s", stream=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # SavedModel export chatter
    try:
        status = command.run(load_params(args.params) if command.params else None, args)
    except FairvisionError as error:
        print(f"fairvision: error: {error}", file=sys.stderr)
        return command.error_status
    except KeyboardInterrupt:
        print("fairvision: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_no_space(error):
            raise  # a bug: its traceback is what a report needs
        print(f"fairvision: error: {_no_space_message(error)}", file=sys.stderr)
        return command.error_status
    return status or 0


def _no_space_message(error: BaseException) -> str:
    """A full disk met outside ``files.atomic_path`` (a cache, a checkpoint, a library's own file), in one line.

    An OSError in the chain names its file; TensorFlow's and Arrow's messages hold the path and the C library's text.
    """
    for cause in causes(error):
        if isinstance(cause, OSError) and cause.filename is not None:
            return f"{cause.filename}: no space left on device: free some space on its filesystem and run again"
    return f"no space left on device ({' '.join(str(error).split())}): free some space and run again"


def dataset_named(params: Params, name: str | None) -> Dataset:
    """The dataset ``--dataset`` names; without it, the only one in params.yaml."""
    if name is None:
        if len(params.datasets) > 1:
            raise FairvisionError(f"params.yaml `datasets` names {len(params.datasets)} datasets "
                                  f"({', '.join(params.datasets)}): say which with --dataset")
        return next(iter(params.datasets.values()))
    if name not in params.datasets:
        raise FairvisionError(f"dataset {name!r} is not in params.yaml `datasets` ({', '.join(params.datasets)})")
    return params.datasets[name]


def backbone_options(params: Params, backbone: str) -> dict[str, Any]:
    """The options of ``backbone`` in params.yaml `backbones`; an error listing the known ones if it is not there."""
    if backbone not in params.backbones:
        raise FairvisionError(
            f"backbone {backbone!r} is not in params.yaml `backbones` ({', '.join(params.backbones)})"
        )
    return dict(params.backbones[backbone])


def chosen_seeds(params: Params, seed: int | None) -> tuple[int, ...]:
    """``--seed`` alone, or every seed of params.yaml `train.seeds`; a seed must be >= 0."""
    if seed is None:
        return params.train.seeds
    if seed < 0:
        raise FairvisionError(f"--seed must be an integer >= 0, got {seed}")
    return (seed,)


_QUIET = "FAIRVISION_QUIET_TENSORFLOW_START"  # set by `execute` when neither --verbose nor the user's level asks
# TensorFlow's start-up lines on a machine without an NVIDIA driver, where no GPU can be used: it probes CUDA
# and says so, at "error" level for cuInit, before its own log level applies.
_STARTUP_CHATTER = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ (cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit)")


def start_tensorflow() -> None:
    """Import TensorFlow and let it find its devices, keeping its start-up chatter off stderr.

    Without an NVIDIA driver, TensorFlow prints that it found no CUDA driver (twice) and that
    cuInit failed (an "E0000" line users take for an error) before its log level applies, so
    those lines are caught at the file descriptor while it starts and only the others are
    passed on. With a driver present, with `--verbose`, or with TF_CPP_MIN_LOG_LEVEL set by the
    user, nothing is held back.
    """
    if os.environ.get(_QUIET) != "1" or Path("/proc/driver/nvidia").exists():
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe happens here, while stderr is caught
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _STARTUP_CHATTER.match(line)]
            sys.stderr.write("".join(kept))
