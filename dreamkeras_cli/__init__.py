"""The command line of dreamkeras: flags, run configuration, quiet start-up.

The apps in `apps/`, `tuning/search.py`, `apps/benchmark.py` and the
`dreamkeras` console command all go through `dreamkeras_cli.commands`. This
package imports only the standard library, so that the flags are parsed
(and `--help` answers) before TensorFlow, JAX, PyTorch or Keras is imported
and before `KERAS_BACKEND` must be known; the library (`dreamkeras`) then
runs the typed `RunConfig` it builds.

- `flags`: every flag, defined once, and the parsers the commands compose.
- `config`: the frozen run configuration dataclasses.
- `builders`: flags -> configuration, with every value checked.
- `tool_builders`: the same for the tuner and the benchmark.
- `datasets`: what each app's dataset brings to the command line.
- `startup`: the environment before the heavy imports; quiet logs.
- `runner`: how every command runs (parse, check, import, run, errors).
- `commands`: the training apps' entry points and `dreamkeras COMMAND`.
- `tool_commands`: the tools' entry points (search, benchmark, dream, text-preset).
- `dream`: the dream grid command.
"""
