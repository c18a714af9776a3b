"""The command line (`dreamkeras_cli`): flags, run configuration, quiet start-up."""

import argparse
import dataclasses
import json
import os
import re
import resource
import sys
import time

import pytest

from dreamkeras_cli import tool_builders
from dreamkeras_cli import commands
from dreamkeras_cli import startup
from dreamkeras_cli.config import TrainingSetupError
from dreamkeras_cli.datasets import DATASETS
from dreamkeras_cli.flags import COMMANDS
from dreamkeras_cli.flags import FLAGS
from dreamkeras_cli.flags import HelpFormatter
from dreamkeras_cli.flags import build_parser
from tests.app_helpers import REPO
from tests.app_helpers import run_python

IMPORTED_AT = time.time()

SCRIPTS = sorted(
    [os.path.join("apps", name) for name in os.listdir(os.path.join(REPO, "apps"))
     if name.endswith(".py") and name != "__init__.py"]
    + ["apps/tools/fortunes_to_folder.py", "apps/tools/text_preset.py", "tuning/search.py",
       "tuning/search_text.py"]
)
HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_hub", "keras_tuner", "dreamkeras")


def test_help_answers_fast_without_importing_the_heavy_libraries():
    """Every script's --help: exit 0, under 2 s, no TF/JAX/torch/Keras imported."""
    code = f"""
import json, runpy, sys, time
results = {{}}
for script in {SCRIPTS!r}:
    sys.argv = [script, "--help"]
    started = time.perf_counter()
    try:
        runpy.run_path(script, run_name="__main__")
        status = None
    except SystemExit as exit:
        status = exit.code
    results[script] = dict(
        status=status, seconds=time.perf_counter() - started,
        heavy=[m for m in {HEAVY!r} if m in sys.modules],
    )
sys.stdout = sys.__stdout__
print("RESULTS" + json.dumps(results))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(result.stdout.split("RESULTS")[-1])
    assert sorted(results) == SCRIPTS
    for script, outcome in results.items():
        assert outcome["status"] == 0, script
        assert outcome["heavy"] == [], script
        assert outcome["seconds"] < 2.0, script
    # The interpreter, the parse and the help text: a whole process, measured
    # in CPU seconds (wall time on a shared CI machine varies with its load).
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_python("import runpy, sys; sys.argv = ['x', '--help']; "
                        "runpy.run_path('apps/cifar100.py', run_name='__main__')")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 2.0
    assert "--fast-dev-run" in result.stdout and result.stderr == ""


def _help_texts(parser):
    formatter = HelpFormatter(parser.prog)
    return {
        action.option_strings[0]: formatter._expand_help(action)
        for action in parser._actions
        if action.option_strings and action.option_strings[0] != "-h"
    }


@pytest.mark.parametrize("family", sorted(COMMANDS))
def test_each_default_is_shown_once_and_every_option_explained(family):
    parser = build_parser(family, extra=DATASETS["yelp"].extra_flags if family == "text" else None)
    texts = _help_texts(parser)
    for option, text in texts.items():
        action = next(a for a in parser._actions if option in a.option_strings)
        # Explained: a sentence of its own, not another flag's text.
        own = text.split(" (default: ")[0]
        assert own.endswith((".", ")")) and re.search(r"\w{3,} \w{2,}", own), (option, text)
        shown = len(re.findall(r"default", text, flags=re.IGNORECASE))
        has_default = action.default not in (None, False, []) and action.default is not argparse.SUPPRESS
        if has_default:
            assert text.count("(default: ") == 1, (option, text)
        assert shown <= 1, (option, text)
    own = [t.split(" (default:")[0] for t in texts.values()]
    assert len(own) == len(set(own)), "two flags share a help text"


def test_every_flag_is_defined_once():
    options = {}
    for key, flag in FLAGS.items():
        for name in flag.names:
            options.setdefault(name, []).append(key)
    shared = {name: keys for name, keys in options.items() if len(keys) > 1}
    # Only the tools' own --model (a saved file) and --output (a PNG, a
    # preset folder) reuse a name, with another meaning.
    assert shared == {
        "--model": ["model", "saved_model"],
        "--output": ["output", "grid_output", "preset_output"],
    }
    for family in COMMANDS:  # argparse refuses a name twice in one parser.
        build_parser(family)


def test_scripts_compose_the_registry_and_leave_sys_path_alone():
    for script in SCRIPTS:
        with open(os.path.join(REPO, script)) as f:
            source = f.read()
        assert "sys.path" not in source, script
        assert "add_argument" not in source, script
        assert "from dreamkeras_cli" in source, script
        assert len(source.splitlines()) < 100, script


def test_fast_dev_run_checks_the_flags_then_says_what_it_replaces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TrainingSetupError, match="--batch-size must be at least 2"):
        commands.run_config("cifar100", ["--fast-dev-run", "--batch-size", "0"])
    config = commands.run_config("cifar100", ["--fast-dev-run", "--model", "sleepnet"])
    replaced = {flag: (asked, used) for flag, asked, used in config.replaced}
    assert replaced["--encoder"] == ("hf://facebook/vit-mae-base", "vit-tiny-32")
    assert replaced["--width"] == (64, 8) and replaced["--epochs"] == (30, 2)
    assert config.model.encoder == "vit-tiny-32" and config.schedule.batch_size == 8
    assert config.files.output == str(tmp_path / "outputs" / "fast_dev_run_cifar100_sleepnet.keras")
    assert config.files.overwrite and config.files.restart
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.blocks = 2
    # Given paths are the user's: no silent overwrite or restart.
    config = commands.run_config(
        "cifar100", ["--fast-dev-run", "--output", "mine.keras", "--logdir", "logs"]
    )
    assert config.files.output == str(tmp_path / "mine.keras")
    assert not config.files.overwrite and not config.files.restart


def test_a_real_run_config_keeps_every_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = commands.run_config(
        "fashion_mnist",
        ["--model", "sleepnet", "--blocks", "2", "--lr", "0.01", "--no-randaugment",
         "--mixup-alpha", "0", "--train-subset", "100", "--weight-decay", "1e-4"],
    )
    assert (config.task, config.model.kind, config.model.blocks) == ("image", "sleepnet", 2)
    assert config.optimizer.lr == 0.01 and config.optimizer.weight_decay == 1e-4
    assert not config.augment.randaugment and config.augment.mixup_alpha == 0
    assert config.schedule.train_subset == 100 and config.replaced == ()
    assert config.data.data_dir == "/usr/share/datasets/fashion-mnist"
    assert config.files.output == str(tmp_path / "outputs" / "fashion_mnist_sleepnet2.keras")
    assert config.files.best.endswith("fashion_mnist_sleepnet2_best.keras")
    assert config.files.backup == str(tmp_path / "runs" / "fashion_mnist_sleepnet2" / "backup")
    flat = config.flat()
    assert flat["model.blocks"] == 2 and flat["optimizer.lr"] == 0.01
    text = commands.run_config("yelp", ["--model", "lstm", "--yelp5", "x", "--sleep-mode", "argmax"])
    assert text.task == "text" and text.data.yelp5 == "x"
    assert text.model.token_mode == "argmax" and not text.model.uses_encoder_weights
    mae = commands.run_config("pretrain-mae", ["--max-train-images", "50"])
    assert mae.task == "mae" and mae.schedule.train_subset == 50
    assert mae.files.preset and mae.files.report == mae.files.output + ".json"
    assert mae.optimizer.warmup_epochs == 1.0 and mae.optimizer.weight_decay == 0.05


@pytest.mark.parametrize(
    "dataset, argv, message",
    [
        ("cifar100", ["--blocks", "5"], "--blocks must be 1 to 4, got 5"),
        ("cifar100", ["--train-subset", "0"], "--train-subset must be at least 1"),
        ("cifar100", ["--eval-subset", "0"], "--eval-subset must be at least 1"),
        ("cifar100", ["--resume", "--restart"], "--resume and --restart exclude"),
        ("cifar100", ["--output", "model.h5"], "must end with .keras"),
        ("cifar100", ["--mask-ratio", "1"], "--mask-ratio must be in [0, 1)"),
        ("cifar100", ["--randaugment-magnitude", "2"], "--randaugment-magnitude"),
        ("imdb", ["--embedding-dim", "8"], "--embedding-dim needs --embedding random"),
        ("imdb", ["--max-length", "2"], "--max-length must be at least 3"),
        ("imdb", ["--model", "lstm", "--dropout", "1"], "--dropout must be in [0, 1)"),
        ("pretrain-mae", ["--mask-ratio", "0"], "--mask-ratio must be in (0, 1)"),
        ("pretrain-mae", ["--warmup-epochs", "-1"], "--warmup-epochs"),
    ],
)
def test_bad_values_name_the_flag(dataset, argv, message):
    with pytest.raises(TrainingSetupError) as error:
        commands.run_config(dataset, argv)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_flag_is_one_error_line_and_status_2(capsys):
    assert commands.training_app("cifar100", ["--blocks", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: --blocks must be 1 to 4, got 0.\n"
    with pytest.raises(SystemExit) as exit:
        commands.training_app("cifar100", ["--model", "resnet"])
    assert exit.value.code == 2 and "invalid choice: 'resnet'" in capsys.readouterr().err
    assert commands.training_app("mnist9", []) == 2
    assert "Unknown dataset 'mnist9'" in capsys.readouterr().err


def test_search_and_benchmark_configs(tmp_path):
    parser = build_parser("search")
    args = parser.parse_args(
        ["--search-space", "blocks,lr,unfreeze", "--values", "blocks=1,2",
         "--values", "unfreeze=true,no", "--directory", str(tmp_path)]
    )
    search = tool_builders.search_config(args, DATASETS["fashion_mnist"])
    assert search.search_space == ("blocks", "lr", "unfreeze")
    assert search.values == {"blocks": (1, 2), "unfreeze": (True, False)}
    assert search.project_dir == str(tmp_path / "fashion_mnist_dreamnet")
    assert search.run.schedule.epochs == 2 and search.run.schedule.verbose == 2
    for argv, message in (
        (["--search-space", "blocks,depth"], "unknown hyperparameter"),
        (["--values", "lr=0.1"], "not searched"),
        (["--values", "blocks=x"], "must be int"),
        (["--validation-split", "1"], "--validation-split"),
        (["--max-trials", "0"], "--max-trials must be at least 1"),
    ):
        with pytest.raises(TrainingSetupError, match=message):
            tool_builders.search_config(parser.parse_args(argv), DATASETS["fashion_mnist"])
    parser = build_parser("benchmark")
    config = tool_builders.benchmark_config(parser.parse_args(["--precision", "float32"]), "jax")
    assert config.hardware.mixed_precision == "none" and config.model.encoder == "mae-small-32"
    assert config.batch_size == 8 and config.model.width == 64
    with pytest.raises(TrainingSetupError, match="needs --loop fit"):
        tool_builders.benchmark_config(
            parser.parse_args(["--loop", "on-batch", "--steps-per-execution", "4"]), "jax"
        )
    with pytest.raises(TrainingSetupError, match="must be 1 with --backend torch"):
        tool_builders.benchmark_config(parser.parse_args(["--steps-per-execution", "2"]), "torch")
    with pytest.raises(TrainingSetupError, match="--torch-compile is for --backend torch"):
        tool_builders.benchmark_config(parser.parse_args(["--torch-compile"]), "jax")
    assert tool_builders.benchmark_config(parser.parse_args(["--torch-compile"]), "torch").torch_compile
    assert not config.torch_compile
    with pytest.raises(TrainingSetupError, match="--torch-export is for --backend torch"):
        tool_builders.benchmark_config(parser.parse_args(["--torch-export"]), "tensorflow")
    assert tool_builders.benchmark_config(parser.parse_args(["--torch-export"]), "torch").torch_export
    assert not config.torch_export


def test_quiet_stderr_drops_start_up_noise_and_keeps_the_rest(capfd):
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.2 4000 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
        "E0000 00:00:1.3 4000 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
    )
    with startup.quiet_stderr() as dropped:
        os.write(2, noise.encode())
        os.write(2, b"W0000 real_op.cc:12] A real warning about the data.\n")
        os.write(2, b"UserWarning: a Python warning\n")
    captured = capfd.readouterr()
    assert captured.err == (
        "W0000 real_op.cc:12] A real warning about the data.\nUserWarning: a Python warning\n"
    )
    assert len(dropped) == 3
    with startup.quiet_stderr(enabled=False):  # --debug
        os.write(2, noise.encode())
    assert capfd.readouterr().err == noise


def test_jax_compilation_cache_goes_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    monkeypatch.delenv("DREAMKERAS_COMPILATION_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = str(tmp_path / "dreamkeras" / "jax")
    assert startup.use_compilation_cache("jax") == expected
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == expected
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    # The user's own folder is kept; other backends and the opt-out set nothing.
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert startup.use_compilation_cache("jax") == str(tmp_path / "mine")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    assert startup.use_compilation_cache("torch") is None
    monkeypatch.setenv("DREAMKERAS_COMPILATION_CACHE", "0")
    assert startup.use_compilation_cache("jax") is None
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
    monkeypatch.delenv("DREAMKERAS_COMPILATION_CACHE")
    monkeypatch.setitem(sys.modules, "jax", object())  # too late once JAX is loaded
    assert startup.use_compilation_cache("jax") is None


def test_ynn_fusions_are_turned_off_only_for_a_fresh_jax_run(monkeypatch):
    flag = startup.NO_YNN_FUSIONS
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setattr(startup.importlib.metadata, "version", lambda name: "0.10.2")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert startup.prefer_xla_cpu_kernels("jax")
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {flag}"
    # `--remat` runs also get the memory-optimised schedule.
    monkeypatch.setenv("XLA_FLAGS", "")
    assert startup.prefer_xla_cpu_kernels("jax", memory_first=True)
    assert os.environ["XLA_FLAGS"] == f"{flag} {startup.MEMORY_SCHEDULE}"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_DEFAULT")
    assert startup.prefer_xla_cpu_kernels("jax", memory_first=True)
    assert "MEMORY_OPTIMIZED" not in os.environ["XLA_FLAGS"]
    # Once only, and never over the user's own choice of fusion types.
    assert not startup.prefer_xla_cpu_kernels("jax")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
    assert not startup.prefer_xla_cpu_kernels("jax")
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=dot"
    monkeypatch.delenv("XLA_FLAGS")
    assert not startup.prefer_xla_cpu_kernels("tensorflow")
    # Another jaxlib may not know the flag (XLA aborts on unknown flags).
    monkeypatch.setattr(startup.importlib.metadata, "version", lambda name: "0.11.0")
    assert not startup.prefer_xla_cpu_kernels("jax")
    assert "XLA_FLAGS" not in os.environ
    # Too late once JAX is imported.
    monkeypatch.setattr(startup.importlib.metadata, "version", lambda name: "0.10.2")
    monkeypatch.setitem(sys.modules, "jax", object())
    assert not startup.prefer_xla_cpu_kernels("jax")


def test_prepare_process_quiets_tensorflow_unless_debug(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    startup.prepare_process("jax", debug=True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    startup.prepare_process("jax")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # The user's own choice stays.
    startup.prepare_process("jax")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


@pytest.mark.large
def test_the_installed_jaxlib_accepts_the_xla_flags():
    # XLA aborts on a flag it does not know: run a JAX computation in a fresh
    # process prepared the way the apps prepare it (the fast-dev-run tests
    # cover the plain flags; this one adds --remat's schedule).
    code = (
        "import os; from dreamkeras_cli import startup;"
        "startup.prepare_process('jax', remat=True);"
        "import jax.numpy as jnp; print(float(jnp.ones(3).sum()), os.environ.get('XLA_FLAGS'))"
    )
    result = run_python(code, env={"XLA_FLAGS": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "3.0"


def test_the_console_command_lists_and_dispatches(capsys):
    assert commands.main([]) == 2
    out = capsys.readouterr().out
    assert "usage: dreamkeras COMMAND" in out
    for name in list(DATASETS) + list(commands.TOOLS):
        assert f"\n  {name} " in out
    assert commands.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
    assert commands.main(["pretrain-mae", "--mask-ratio", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --mask-ratio must be in (0, 1)")


def test_a_missing_library_is_one_error_line():
    from dreamkeras_cli import runner
    from tests.app_helpers import BACKEND

    args = argparse.Namespace(backend=BACKEND, debug=False)
    with pytest.raises(TrainingSetupError, match="'no_such_module_xyz' is not installed"):
        runner.start_backend(args, "dreamkeras cifar100", libraries=("no_such_module_xyz",))


def test_process_start_counts_the_time_before_the_program():
    from dreamkeras.utils.profiling import seconds_since_process_start

    # This process started before this module was imported, and after boot.
    since_import = time.time() - IMPORTED_AT
    with open("/proc/uptime") as handle:
        uptime = float(handle.read().split()[0])
    assert since_import <= seconds_since_process_start() <= uptime
