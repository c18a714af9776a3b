"""Input pipelines and dataset loaders for the training apps (tf.data)."""

from dreamkeras.data.augment import RandAugment as RandAugment
from dreamkeras.data.errors import DataError as DataError
from dreamkeras.data.errors import DataUnavailableError as DataUnavailableError
from dreamkeras.data.datasets import ImageDataset as ImageDataset
from dreamkeras.data.datasets import LabelledDataset as LabelledDataset
from dreamkeras.data.pipeline import build_pipeline as build_pipeline
from dreamkeras.data.pipeline import from_arrays as from_arrays
from dreamkeras.data.pipeline import validate_labels as validate_labels
from dreamkeras.data.folders import find_unreadable_images as find_unreadable_images
from dreamkeras.data.folders import load_image_folder as load_image_folder
from dreamkeras.data.folders import load_tiny_imagenet as load_tiny_imagenet
from dreamkeras.data.folders import load_unlabelled_images as load_unlabelled_images
from dreamkeras.data.sources import load_fashion_mnist as load_fashion_mnist
from dreamkeras.data.sources import load_tfds as load_tfds
from dreamkeras.data.sources import read_idx as read_idx
from dreamkeras.data.sources import synthetic_dataset as synthetic_dataset
