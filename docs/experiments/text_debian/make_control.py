"""Random-weight control with the SAME tokenizer and architecture as a pretrained preset.

Loads the pretrained preset's tokenizer and config (not its weights), builds a
fresh RobertaMaskedLM with random weights (seed 1337, the pretraining run's
seed, so normally the very weights the pretraining started from), and saves it
with dreamkeras' save_random_preset (marked RANDOM_WEIGHTS.txt).

    python docs/experiments/text_debian/make_control.py PRESET CONTROL
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
from dreamkeras.text import presets  # noqa: E402

src, dst = sys.argv[1], sys.argv[2]
keras.config.set_dtype_policy("float32")
tokenizer = keras_hub.models.RobertaTokenizer.from_preset(src)
keras.utils.set_random_seed(1337)
masked_lm = keras_hub.models.RobertaMaskedLM.from_preset(src, load_weights=False,
                                                         preprocessor=None)
trained = keras_hub.models.RobertaMaskedLM.from_preset(src, preprocessor=None)
seq = trained.backbone.max_sequence_length
presets.save_random_preset(dst, tokenizer, masked_lm, sequence_length=seq)
a = trained.backbone.token_embedding.get_weights()[0]
b = masked_lm.backbone.token_embedding.get_weights()[0]
print("vocabulary", tokenizer.vocabulary_size(), "params", masked_lm.count_params(),
      "vs trained", trained.count_params(), "embedding shapes", a.shape, b.shape,
      "mean |diff| trained-random embedding", float(np.abs(a - b).mean()))
t2 = keras_hub.models.RobertaTokenizer.from_preset(dst)
assert t2.get_vocabulary() == tokenizer.get_vocabulary()
print("control tokenizer == pretrained tokenizer: True")
