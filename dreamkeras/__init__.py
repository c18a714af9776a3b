"""dreamkeras: SleepNet and DreamNet as Keras 3 building blocks.

Import it before `keras.saving.load_model` so that the saved classes resolve.
"""

from dreamkeras import dreams as dreams
from dreamkeras import encoders as encoders
from dreamkeras import flops as flops
from dreamkeras import layers as layers
from dreamkeras import models as models
from dreamkeras import text as text
from dreamkeras import torch_export as torch_export
from dreamkeras import utils as utils
from dreamkeras import xla_cpu as xla_cpu
from dreamkeras.layers import DreamConnection as DreamConnection
from dreamkeras.layers import SleepConnection as SleepConnection
from dreamkeras.models import ChainClassifier as ChainClassifier
from dreamkeras.models import DreamNet as DreamNet
from dreamkeras.models import MAEAutoencoder as MAEAutoencoder
from dreamkeras.models import add_connections as add_connections
from dreamkeras.models import SleepNet as SleepNet
from dreamkeras.models import TextDreamNet as TextDreamNet
from dreamkeras.models import TextSleepNet as TextSleepNet
from dreamkeras.version import __version__ as __version__
