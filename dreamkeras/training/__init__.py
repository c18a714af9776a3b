"""The training engine of the apps: one run configuration, three tasks.

`train(config)` runs a `dreamkeras_cli.config.RunConfig` (built from the
flags by `dreamkeras_cli`, or by hand) with its task: image classification,
text classification or MAE pretraining. Import it explicitly
(`import dreamkeras.training`); it imports TensorFlow for the tf.data input
pipelines.
"""

from dreamkeras.training.callbacks import DreamTextLogger as DreamTextLogger
from dreamkeras.training.callbacks import EpochRecorder as EpochRecorder
from dreamkeras.training.callbacks import HParamsLogger as HParamsLogger
from dreamkeras.training.callbacks import Throughput as Throughput
from dreamkeras.training.compile import adam as adam
from dreamkeras.training.compile import compile_classifier as compile_classifier
from dreamkeras.training.engine import PreparedRun as PreparedRun
from dreamkeras.training.engine import check_losses_finite as check_losses_finite
from dreamkeras.training.engine import train as train
from dreamkeras.training.image_task import ImageClassification as ImageClassification
from dreamkeras.training.image_task import build_model as build_model
from dreamkeras.training.image_task import load_run_encoder as load_run_encoder
from dreamkeras.training.image_task import load_training_data as load_training_data
from dreamkeras.training.image_task import make_pipelines as make_pipelines
from dreamkeras.training.image_task import resolve_image_shape as resolve_image_shape
from dreamkeras.training.mae_task import MAEPretraining as MAEPretraining
from dreamkeras.training.precision import resolve_policy as resolve_policy
from dreamkeras.training.schedules import WarmupSchedule as WarmupSchedule
from dreamkeras.training.splits import with_validation as with_validation
from dreamkeras.training.text_task import TextClassification as TextClassification
from dreamkeras.training.text_task import build_text_model as build_text_model
from dreamkeras.utils.profiling import parameter_counts as parameter_counts
from dreamkeras_cli.config import RunConfig as RunConfig
from dreamkeras_cli.config import TrainingSetupError as TrainingSetupError
