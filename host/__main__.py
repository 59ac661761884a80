# SPDX-License-Identifier: BSD-2-Clause
"""``memgen`` (also ``python -m host``): one command for every MemGEN tool.

``memgen COMMAND [OPTIONS]`` runs a tool; ``memgen COMMAND --help`` explains its options. The
device tools (``train``, ``sample``, ``info``, ``clear``) are also ``python -m host.train``,
``python -m host.sample`` and so on, with the same options.

Exit status, of every command:

* 0: success;
* 1: any failure, said in one ``error:`` line naming the fix;
* 2: a usage error (an unknown command or option, a bad value); for ``build``, also an Arty
  bitstream without Vivado on PATH (the build tree is ready, and the one command that
  finishes it is printed);
* 130: interrupted with Ctrl-C.
"""

import importlib
import sys

__all__ = ["COMMANDS", "version", "main"]

#: The commands: name, module whose ``main(argv)`` runs it, arguments put first, and what it
#: does.
COMMANDS = (
    ("train", "host.train", (), "teach the device a data set by heart"),
    ("sample", "host.sample", (), "sample the device: every sample is a training example"),
    ("info", "host.info", (), "show what the device knows"),
    ("clear", "host.clear", (), "forget the device's model"),
    ("ports", "host.ports", (), "list serial ports with their USB IDs"),
    ("board", "sim.board", (), "run the virtual board (the design in Verilator)"),
    ("build", "hw.boards.build", ("bitstream",), "build a bitstream: --board NAME"),
    ("program", "hw.boards.build", ("program",), "program a board: --board NAME"),
)

# Commands that need the gateware tools (the `boards` extra) and the EDA tools on PATH.
_HARDWARE = ("board", "build", "program")

_USAGE = "usage: memgen [-h] [-V] [-v | -q] COMMAND [OPTIONS]"


def version():
    """Return the MemGEN version (:data:`host.__version__`, which pyproject.toml reads)."""
    from host import __version__

    return __version__


def _help():
    lines = [_USAGE, "", "MemGEN: Deep Memory on an FPGA. Commands (each takes --help):", ""]
    lines += [f"  {name:<9} {what}" for name, _, _, what in COMMANDS]
    lines += ["", "options:",
              "  -h, --help     show this help and exit",
              "  -V, --version  print the version and exit",
              "  -v, --verbose  log what happens (twice: frame-level debugging)",
              "  -q, --quiet    errors only",
              "",
              "exit status: 0 success, 1 failure (one `error:` line naming the fix),",
              "2 usage error (build: also an Arty bitstream that needs Vivado), 130 interrupted"]
    return "\n".join(lines)


def _usage_error(message):
    print(f"error: {message}; see memgen --help", file=sys.stderr)
    return 2


def main(argv=None):
    """Run ``memgen`` with ``argv`` (default: the command line); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = []
    while argv and argv[0].startswith("-"):
        flag = argv.pop(0)
        if flag in ("-h", "--help"):
            print(_help())
            return 0
        if flag in ("-V", "--version"):
            print(f"memgen {version()}")
            return 0
        if flag in ("-v", "--verbose", "-vv", "-q", "--quiet"):
            flags.append(flag)
            continue
        return _usage_error(f"unknown option {flag}")
    if not argv:
        print(_help())
        return 2
    name, rest = argv[0], argv[1:]
    command = next((c for c in COMMANDS if c[0] == name), None)
    if command is None:
        return _usage_error(f"unknown command {name!r} (commands: "
                            f"{', '.join(c[0] for c in COMMANDS)})")
    _, module, first, _ = command
    if name in _HARDWARE:
        try:
            from hw import toolenv

            toolenv.apply()
            runner = importlib.import_module(module)
        except ImportError as exc:
            print(f"error: `memgen {name}` needs the gateware tools ({exc.name} is missing); "
                  f"install them with pip install 'memgen[boards]'", file=sys.stderr)
            return 1
        # These tools take -v but not -q.
        flags = [flag for flag in flags if flag.startswith(("-v", "--verbose"))][:1]
        if name in ("build", "program") and not any(a.startswith("--build-dir") for a in rest):
            from host.paths import build_root

            # Installed, the build trees go to the user's cache, not the working directory.
            rest = [*rest, "--build-dir", str(build_root())]
    else:
        runner = importlib.import_module(module)
    sys.argv[0] = f"memgen {name}"
    return runner.main([*first, *rest, *flags])


if __name__ == "__main__":
    sys.exit(main())
