"""The text side of the hyperparameter search (`dreamkeras search-text`).

The search itself (project, resume, lock, TensorBoard HParams, the table,
the best model) is `dreamkeras.tuning.search.run_search`; this module gives
it the text task's data, preprocessor and `TextHyperModel`, built with the
text apps' own pieces (`dreamkeras.training.text_task`), so a trial is the
text app's run with the trial's values as flags.
"""

from dreamkeras.text import presets
from dreamkeras.training.text_encoders import load_text_preprocessor
from dreamkeras.training.text_task import load_text_training_data
from dreamkeras.training.text_task import text_pipelines
from dreamkeras.tuning.hypermodels import TextHyperModel
from dreamkeras.tuning.search import SearchSetup
from dreamkeras.tuning.search import split_validation


def text_search_setup(search, logdir):
    """The `SearchSetup` of a search over text SleepNet / DreamNet.

    The encoder preset is loaded once here for its tokenizer (and to check
    `--max-length` against it); every trial loads it again in `build`.

    Args:
        search: `dreamkeras_cli.tool_config.SearchConfig` with a text run.
        logdir: str. Root of the per-trial TensorBoard logs.

    Returns:
        A `dreamkeras.tuning.search.SearchSetup`.

    Example:

    ```python
    setup = text_search_setup(search, "tuning_runs/p/tensorboard")
    ```
    """
    run = search.run
    _, encoder, preprocessor = load_text_preprocessor(run.model)
    del encoder
    data = load_text_training_data(run)
    search_data, test_data = split_validation(data, search.validation_split)
    hypermodel = TextHyperModel(
        run, search_space=search.search_space, values=search.values, logdir=logdir,
        data=search_data, preprocessor=preprocessor,
    )
    return SearchSetup(
        hypermodel=hypermodel, data=data, search_data=search_data, test_data=test_data,
        test_ds=lambda: text_pipelines(run, test_data, preprocessor, train=False)[1],
        random_encoder=bool(presets.is_random_preset(run.model.encoder)),
        random_text=": RANDOM weights (a random preset, not pretrained)",
        summary={
            "max_length": run.model.max_length,
            "augment": run.augment.augment,
            "augment_rate": run.augment.rate,
        },
    )
