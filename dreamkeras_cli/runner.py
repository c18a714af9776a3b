"""How every command runs: parse, check, say what runs, import quietly, run.

User errors (bad flags, a missing dataset or encoder, an existing output)
print one `error: ...` line and give exit status 2, never a traceback.
"""

import os
import sys

from dreamkeras_cli import startup
from dreamkeras_cli.config import TrainingSetupError


def command_text(prog, name):
    """How messages name the command: `python apps/x.py` or `dreamkeras x`."""
    if prog and prog.endswith(".py"):
        return f"python {prog}"
    return prog or f"dreamkeras {name}"


def fail(error):
    """Prints `error: ...` on stderr; returns the exit status 2."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    return 2


def run_guarded(run):
    """Runs `run()`; user errors become one `error:` line and status 2.

    Example:

    ```python
    sys.exit(run_guarded(lambda: train(config)))
    ```
    """
    try:
        run()
    except TrainingSetupError as error:
        return fail(error)
    except Exception as error:
        errors = sys.modules.get("dreamkeras.data.errors")
        if errors is not None and isinstance(error, errors.DataError):
            return fail(error)
        raise
    return 0


def start_backend(args, command, libraries=("dreamkeras",)):
    """Sets the environment, imports the backend quietly and prints its line.

    Args:
        args: parsed flags with `backend` and `debug` (and maybe `remat`).
        command: str. The command, for the error message.
        libraries: tuple of str. Modules to import with the backend.

    Returns:
        str. The backend.

    Raises:
        TrainingSetupError: Keras already runs another backend here.

    Example:

    ```python
    backend = start_backend(args, "python apps/cifar100.py")
    ```
    """
    backend = startup.prepare_process(
        args.backend, remat=getattr(args, "remat", False), debug=args.debug
    )
    _join_multi_host(args)
    try:
        device = startup.import_backend(backend, debug=args.debug, libraries=libraries)
    except startup.BackendMismatch as running:
        raise TrainingSetupError(
            f"--backend {backend} was asked for, but Keras was already imported with "
            f"the {running} backend in this process. Run {command} --backend "
            f"{backend} in a new process or set KERAS_BACKEND={backend}."
        ) from None
    except ModuleNotFoundError as error:
        raise TrainingSetupError(
            f"--backend {backend}: the module {error.name!r} is not installed. Install it "
            f"(pip install -r requirements.txt) or pick another --backend."
        ) from None
    import keras

    print(startup.header_line("backend", f"{backend} (Keras {keras.__version__}) on {device}"),
          flush=True)
    return backend


_MULTI_HOST_ENV = ("JAX_NUM_PROCESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES")


def _join_multi_host(args):
    """Joins a multi-process run before anything starts JAX's devices."""
    flags = ("coordinator_address", "num_processes", "process_id")
    if not any(getattr(args, flag, None) is not None for flag in flags) and not any(
        os.environ.get(name) for name in _MULTI_HOST_ENV
    ):
        return
    from dreamkeras.training.distribution import initialize_multi_host

    initialize_multi_host(*(getattr(args, flag, None) for flag in flags))


def run_command(name, argv, prog, parser, prepare, libraries=("dreamkeras",)):
    """Parse, check, print the first line, import quietly, run; returns the status.

    Args:
        name: str. The command's name (`dreamkeras NAME`).
        argv: list of str or None (`sys.argv[1:]`).
        prog: str or None. Program name for `--help` and messages.
        parser: callable `(prog) -> argparse.ArgumentParser`.
        prepare: callable `(args, command) -> (first line, run)`: checks
            everything it can without the heavy libraries; `run()` then runs
            with them.
        libraries: tuple of str. Modules to import with the backend.

    Example:

    ```python
    status = run_command("x", argv, None, parser_factory, prepare)
    ```
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_text(prog, name)

    def go():
        args = parser(prog or f"dreamkeras {name}").parse_args(argv)
        title, run = prepare(args, command)
        print(title, flush=True)
        start_backend(args, command, libraries)
        run()

    return run_guarded(go)


