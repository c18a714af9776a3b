"""KerasTuner searches over SleepNet / DreamNet hyperparameters.

Import it explicitly (`import dreamkeras.tuning`); it imports `keras_tuner`
and, through `dreamkeras.training`, TensorFlow for the tf.data pipeline.
The command line is `python tuning/search.py` (`dreamkeras search`).
"""

from dreamkeras.tuning.hyperparameters import TEXT_HYPERPARAMETERS as TEXT_HYPERPARAMETERS
from dreamkeras.tuning.hyperparameters import VISION_HYPERPARAMETERS as VISION_HYPERPARAMETERS
from dreamkeras.tuning.hypermodels import TextHyperModel as TextHyperModel
from dreamkeras.tuning.hypermodels import VisionHyperModel as VisionHyperModel
from dreamkeras.tuning.results import markdown_table as markdown_table
from dreamkeras.tuning.results import trial_rows as trial_rows
from dreamkeras.tuning.search import run_search as run_search
from dreamkeras.tuning.search import split_validation as split_validation
from dreamkeras.tuning.tuners import BayesianOptimization as BayesianOptimization
from dreamkeras.tuning.tuners import Hyperband as Hyperband
from dreamkeras.tuning.tuners import RandomSearch as RandomSearch
from dreamkeras.tuning.tuners import make_tuner as make_tuner
