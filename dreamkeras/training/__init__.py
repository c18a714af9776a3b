"""The shared training run of the image and text apps: flags, callbacks, FLOPs, reports.

Import it explicitly (`import dreamkeras.training`); it imports TensorFlow
for the tf.data input pipeline.
"""

from dreamkeras.training.app import main as main
from dreamkeras.training.app import parse_args as parse_args
from dreamkeras.training.app import run as run
from dreamkeras.training.callbacks import DreamTextLogger as DreamTextLogger
from dreamkeras.training.callbacks import EpochRecorder as EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger as HParamsLogger
from dreamkeras.training.callbacks import Throughput as Throughput
from dreamkeras.training.config import build_parser as build_parser
from dreamkeras.training.config import build_text_parser as build_text_parser
from dreamkeras.training.datasets import DATASETS as DATASETS
from dreamkeras.training.datasets import TEXT_DATASETS as TEXT_DATASETS
from dreamkeras.training.flops import count_flops as count_flops
from dreamkeras.training.flops import count_train_step_flops as count_train_step_flops
from dreamkeras.training.trainer import TrainingSetupError as TrainingSetupError
from dreamkeras.training.trainer import build_model as build_model
from dreamkeras.training.trainer import compile_model as compile_model
from dreamkeras.training.trainer import load_run_encoder as load_run_encoder
from dreamkeras.training.trainer import load_training_data as load_training_data
from dreamkeras.training.trainer import make_pipelines as make_pipelines
from dreamkeras.training.trainer import resolve_image_shape as resolve_image_shape
from dreamkeras.utils.profiling import parameter_counts as parameter_counts
from dreamkeras.training.trainer import train as train
from dreamkeras.training.text_trainer import TEXT_TASK as TEXT_TASK
from dreamkeras.training.text_trainer import build_text_model as build_text_model
from dreamkeras.training.text_flops import count_text_flops as count_text_flops
from dreamkeras.training.text_flops import (
    count_text_train_step_flops as count_text_train_step_flops,
)
