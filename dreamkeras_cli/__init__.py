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
- `datasets`: what each app's dataset brings to the command line.
- `startup`: the environment before the heavy imports; quiet logs.
- `commands`: the entry points.
"""
