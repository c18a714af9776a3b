"""Masked-LM pretraining of a small RoBERTa: the task behind `apps/pretrain_mlm.py`.

Reads a folder of `.txt` files (one text per paragraph), holds out a share
of the texts (by a hash of their content), builds a byte-level BPE
vocabulary that keeps the training texts' most frequent words whole
(`dreamkeras.text.presets`, as `dreamkeras text-preset` does), trains a
KerasHub `RobertaMaskedLM` from random weights on RoBERTa's masking
(`RobertaMaskedLMPreprocessor`: 15% of the tokens predicted, 80% of them
replaced by `<mask>`, 10% by a random token) and saves a KerasHub preset
folder that the text apps' `--encoder` loads. The engine
(`dreamkeras.training.engine`) runs it like the other tasks: resume,
TensorBoard, an atomic preset, the JSON report.
"""

import collections
import dataclasses
import hashlib

import keras
import numpy as np

from dreamkeras.data.pipeline import shard_examples
from dreamkeras.text import presets
from dreamkeras.training.distribution import process_shard
from dreamkeras.training.engine import PreparedRun
from dreamkeras.training.mae_task import adamw_with_warmup
from dreamkeras.training.report import line
from dreamkeras_cli.config import TrainingSetupError

FAST_DEV_TEXTS = 96


@dataclasses.dataclass(frozen=True)
class TextCorpus:
    """The texts of a pretraining run, split into training and held-out texts.

    The engine reads `name`, `synthetic`, `eval_split`, `num_classes`,
    `train_size` and `eval_size` for the report.

    Example:

    ```python
    corpus = split_corpus("texts", texts, 0.1)
    ```
    """

    name: str
    train: list
    eval: list
    synthetic: bool = False
    num_classes: int = None
    eval_split: str = "held-out"

    @property
    def train_size(self):
        return len(self.train)

    @property
    def eval_size(self):
        return len(self.eval)


def split_corpus(name, texts, fraction, synthetic=False):
    """Splits `texts` into training and held-out texts by a hash of their content.

    The `round(fraction * n)` texts with the smallest SHA-1 hashes are held
    out, so the split is the same in every run and duplicates of a text
    fall on the same side unless they straddle the cut.

    Example:

    ```python
    corpus = split_corpus("docs", ["a b", "c d", "e f"], 0.34)
    ```
    """
    hashes = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    order = sorted(range(len(texts)), key=lambda i: (hashes[i], i))
    held = set(order[: int(round(fraction * len(texts)))])
    return TextCorpus(
        name=name,
        train=[t for i, t in enumerate(texts) if i not in held],
        eval=[t for i, t in enumerate(texts) if i in held],
        synthetic=synthetic,
        eval_split=f"held-out {fraction:.0%}",
    )


def load_corpus(config):
    """The run's `TextCorpus`: the `--corpus` texts (generated for a fast dev run)."""
    from dreamkeras.text.synthetic import synthetic_texts

    schedule = config.schedule
    if config.fast_dev_run:
        texts, _ = synthetic_texts(4, FAST_DEV_TEXTS, seed=schedule.seed)
        name, synthetic = "generated texts", True
    else:
        texts, files = presets.corpus_texts(config.data.data_dir)
        name, synthetic = config.data.data_dir, False
    corpus = split_corpus(name, texts, schedule.validation_split, synthetic)
    train = corpus.train[: schedule.train_subset or None]
    held_out = corpus.eval[: schedule.eval_subset or None]
    if len(train) < schedule.batch_size or not held_out:
        raise TrainingSetupError(
            f"{name}: {len(train)} training and {len(held_out)} held-out texts (one per "
            f"paragraph of the .txt files); pretraining needs at least one batch "
            f"(--batch-size {schedule.batch_size}) and one held-out text. Add texts or "
            f"lower --batch-size / raise --validation-split."
        )
    return dataclasses.replace(corpus, train=train, eval=held_out)


def masked_batches(
    texts, preprocessor, batch_size, seed, training=False, repeat=False, shard=None
):
    """A `tf.data` pipeline of RoBERTa-masked batches `(x, y, sample_weight)`.

    With `shard` (`(count, index, batches)`, a multi-process training run:
    `dreamkeras.training.distribution.process_shard`), each process
    keeps its block of `batch_size / count` texts of every global batch of
    `batch_size` and masks them itself: the texts of a global batch are the
    single-process run's, their masks are drawn per process.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(texts)
    if training:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if shard is not None:
        batch_size //= shard[0]
        ds = shard_examples(ds, shard, batch_size)
    ds = ds.batch(batch_size, drop_remainder=training)
    if shard is not None and not repeat:
        ds = ds.take(shard[2])
    return ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def masked_token_accuracy(masked_lm, batches):
    """Accuracy and loss of `masked_lm` on the masked positions of fixed batches.

    Args:
        masked_lm: a KerasHub masked LM (no preprocessor).
        batches: list of `(x, y, sample_weight)` numpy batches.

    Returns:
        dict: `accuracy`, `loss` (cross-entropy in nats) and `tokens`.

    Example:

    ```python
    masked_token_accuracy(masked_lm, batches)["accuracy"]
    ```
    """
    correct = loss = tokens = 0.0
    for x, y, weight in batches:
        logits = keras.ops.convert_to_numpy(masked_lm(x, training=False)).astype("float64")
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        picked = np.take_along_axis(log_probs, y[..., None].astype("int64"), -1)[..., 0]
        correct += float(((logits.argmax(-1) == y) * weight).sum())
        loss -= float((picked * weight).sum())
        tokens += float(weight.sum())
    return {"accuracy": correct / tokens, "loss": loss / tokens, "tokens": int(tokens)}


def most_frequent_token_accuracy(tokenizer, train_texts, batches):
    """Accuracy of always predicting the training texts' most frequent token."""
    counts = collections.Counter()
    for ids in tokenizer(train_texts[:5000]):
        counts.update(np.asarray(ids).tolist())
    token = counts.most_common(1)[0][0]
    hits = sum(float(((y == token) * w).sum()) for _, y, w in batches)
    total = sum(float(w.sum()) for _, _, w in batches)
    return hits / total


class MLMPretraining:
    """The task of `apps/pretrain_mlm.py`: `.txt` files -> a RoBERTa preset.

    Example:

    ```python
    report = dreamkeras.training.train(config, task=MLMPretraining())
    ```
    """

    unit = "texts"
    divergence_advice = "Lower --lr."

    def prepare(self, config, scope):
        import keras_hub
        import tensorflow as tf

        model, schedule = config.model, config.schedule
        corpus = load_corpus(config)
        words = presets.most_frequent_words(corpus.train, model.words)
        with scope:
            tokenizer, masked_lm = presets.random_roberta(
                words, num_layers=model.num_layers, num_heads=model.num_heads,
                hidden_dim=model.hidden_dim, intermediate_dim=model.intermediate_dim,
                max_sequence_length=model.max_sequence_length, seed=schedule.seed,
            )
        preprocessor = keras_hub.models.RobertaMaskedLMPreprocessor(
            tokenizer, sequence_length=model.max_length, mask_selection_rate=model.mask_ratio,
            mask_selection_length=max(1, int(np.ceil(model.max_length * model.mask_ratio * 2))),
        )
        steps = schedule.steps_per_epoch or len(corpus.train) // schedule.batch_size
        # Several processes: each trains on its share of every global batch.
        shard = process_shard(schedule.batch_size, corpus.train_size, training=True)
        train_ds = masked_batches(
            corpus.train, preprocessor, schedule.batch_size, schedule.seed, training=True,
            repeat=schedule.steps_per_epoch is not None, shard=shard,
        )
        # The held-out batches are masked once: both models see the same masks.
        tf.random.set_seed(schedule.seed)
        held_out = list(
            masked_batches(corpus.eval, preprocessor, schedule.batch_size, schedule.seed)
            .as_numpy_iterator()
        )
        initial = masked_token_accuracy(masked_lm, held_out)
        reference = most_frequent_token_accuracy(tokenizer, corpus.train, held_out)
        with scope:
            masked_lm.compile(
                optimizer=adamw_with_warmup(config.optimizer, schedule.epochs, steps),
                # Averaged over the masked tokens (as the held-out figures), not
                # over every position.
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight"
                ),
                weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )

        def evaluate(trained_model):
            trained = masked_token_accuracy(trained_model, held_out)
            return {
                "heldout_masked_accuracy": {
                    "trained": trained["accuracy"],
                    "initial": initial["accuracy"],
                    "most_frequent_token_reference": reference,
                    "loss_trained": trained["loss"],
                    "loss_initial": initial["loss"],
                    "tokens": trained["tokens"],
                    "texts": corpus.eval_size,
                    "mask_seed": schedule.seed,
                    "what": "share of the masked positions of the held-out texts whose "
                    "original token the model ranks first; the same masks for both "
                    "models; the reference always predicts the training texts' most "
                    "frequent token",
                }
            }

        def save(trained_model, path):
            presets.save_roberta_preset(path, tokenizer, trained_model, model.max_sequence_length)

        def finish(trained_model, report, timings):
            report["params"] = int(trained_model.count_params())
            report["encoder_params"] = int(trained_model.backbone.count_params())

        def summary(report):
            result = report["heldout_masked_accuracy"]
            return [
                f"Held-out masked-token accuracy ({result['texts']} texts, "
                f"{result['tokens']} masked tokens, same masks): trained "
                f"{result['trained']:.4f} vs initial {result['initial']:.4f}; always "
                f"the most frequent token: {result['most_frequent_token_reference']:.4f}.",
                f"Saved the preset {config.files.output} (load it with --encoder "
                f"{config.files.output}) and {config.files.report}.",
            ]

        return PreparedRun(
            model=masked_lm,
            train_ds=train_ds,
            data=corpus,
            steps_per_epoch=steps,
            lines=[
                line(
                    "model",
                    f"RobertaMaskedLM, {model.num_layers} layer(s) of width "
                    f"{model.hidden_dim}, {tokenizer.vocabulary_size():,} tokens "
                    f"({len(words)} words whole), {model.max_length} tokens per text, "
                    f"{model.mask_ratio:.0%} masked, from RANDOM initial weights",
                ),
                line(
                    "data",
                    f"{corpus.name}: {corpus.train_size} training / {corpus.eval_size} "
                    f"held-out texts, {steps} steps per epoch",
                ),
            ],
            evaluate=evaluate,
            save=save,
            report={
                "corpus": config.data.data_dir,
                "vocabulary_size": int(tokenizer.vocabulary_size()),
                "words_whole": len(words),
                "max_length": model.max_length,
                "mask_ratio": model.mask_ratio,
            },
            finish=finish,
            summary=summary,
        )
