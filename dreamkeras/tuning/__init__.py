"""KerasTuner searches over SleepNet / DreamNet hyperparameters.

Import it explicitly (`import dreamkeras.tuning`); it imports `keras_tuner`
and, through `dreamkeras.training`, TensorFlow for the tf.data pipeline.
The command line is `python tuning/search.py`.
"""

from dreamkeras.tuning.hypermodels import TEXT_HYPERPARAMETERS as TEXT_HYPERPARAMETERS
from dreamkeras.tuning.hypermodels import VISION_HYPERPARAMETERS as VISION_HYPERPARAMETERS
from dreamkeras.tuning.hypermodels import TextHyperModel as TextHyperModel
from dreamkeras.tuning.hypermodels import VisionHyperModel as VisionHyperModel
from dreamkeras.tuning.hypermodels import vision_settings as vision_settings
from dreamkeras.tuning.search import BayesianOptimization as BayesianOptimization
from dreamkeras.tuning.search import Hyperband as Hyperband
from dreamkeras.tuning.search import RandomSearch as RandomSearch
from dreamkeras.tuning.search import SearchSetupError as SearchSetupError
from dreamkeras.tuning.search import build_search_parser as build_search_parser
from dreamkeras.tuning.search import main as main
from dreamkeras.tuning.search import make_tuner as make_tuner
from dreamkeras.tuning.search import markdown_table as markdown_table
from dreamkeras.tuning.search import run_search as run_search
from dreamkeras.tuning.search import trial_rows as trial_rows
