"""Text utilities: augmentation, data checks, random presets.

Decoding a text DreamNet's dreams lives with the image dreams in
`dreamkeras.dreams`.
"""

from dreamkeras.text.augment import augment_dataset as augment_dataset
from dreamkeras.text.augment import augment_text as augment_text
from dreamkeras.text.augment import double_dataset as double_dataset
from dreamkeras.text.augment import word_vocabulary as word_vocabulary
from dreamkeras.text.data import check_label_dataset as check_label_dataset
from dreamkeras.text.data import check_labels as check_labels
from dreamkeras.text.data import make_preprocessor as make_preprocessor
from dreamkeras.text.presets import build_random_preset as build_random_preset
from dreamkeras.text.presets import is_random_preset as is_random_preset
from dreamkeras.text.sources import TextDataset as TextDataset
from dreamkeras.text.sources import build_text_pipeline as build_text_pipeline
from dreamkeras.text.sources import load_text_csv as load_text_csv
from dreamkeras.text.sources import load_text_folder as load_text_folder
from dreamkeras.text.sources import load_tfds_text as load_tfds_text
from dreamkeras.text.synthetic import synthetic_text_dataset as synthetic_text_dataset
