"""Frozen models by name: KerasHub presets, Hugging Face checkpoints, local folders.

`load_encoder` (SleepNet) and `load_autoencoder` (DreamNet) resolve a named size,
a local preset or checkpoint folder, an `hf://` or Kaggle handle; the `hf_*`
modules convert Hugging Face ViT, ViT-MAE and XLNet checkpoints.
"""

from dreamkeras.encoders.loader import load_autoencoder as load_autoencoder
from dreamkeras.encoders.loader import load_encoder as load_encoder
from dreamkeras.encoders.loader import named_sizes as named_sizes
from dreamkeras.encoders.loader import encoder_image_shape as encoder_image_shape
from dreamkeras.utils.presets import load_preset as load_preset
from dreamkeras.utils.presets import save_preset as save_preset
from dreamkeras.encoders.hf_xlnet import load_xlnet as load_xlnet
