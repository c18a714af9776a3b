"""The networks: chains, SleepNet / DreamNet (images and texts), the MAE,
XLNet, baselines, and `add_connections` for any Keras model.
"""

from dreamkeras.models.chain import interleave_connections as interleave_connections
from dreamkeras.models.connect import add_connections as add_connections
from dreamkeras.models.connect import wire_connections as wire_connections
from dreamkeras.models.guard import ConnectedModel as ConnectedModel
from dreamkeras.models.guard import RecoverableModel as RecoverableModel
from dreamkeras.models.factory import build_vision_classifier as build_vision_classifier
from dreamkeras.models.mae import MAEAutoencoder as MAEAutoencoder
from dreamkeras.models.mae import MAEDecoder as MAEDecoder
from dreamkeras.models.reference_networks import ReferenceDreamNet as ReferenceDreamNet
from dreamkeras.models.reference_networks import ReferenceSleepNet as ReferenceSleepNet
from dreamkeras.models.reference_networks import (
    build_reference_network as build_reference_network,
)
from dreamkeras.models.small_cnn import SmallCNN as SmallCNN
from dreamkeras.models.vision_chain import ChainClassifier as ChainClassifier
from dreamkeras.models.vision_classifiers import DreamNet as DreamNet
from dreamkeras.models.vision_classifiers import SleepNet as SleepNet
from dreamkeras.models.text_baselines import CharCNNClassifier as CharCNNClassifier
from dreamkeras.models.text_baselines import LSTMClassifier as LSTMClassifier
from dreamkeras.models.text_baselines import TextCNNClassifier as TextCNNClassifier
from dreamkeras.models.text_classifiers import TextDreamNet as TextDreamNet
from dreamkeras.models.text_classifiers import TextSleepNet as TextSleepNet
from dreamkeras.models.text_classifiers import check_tokenizer as check_tokenizer
from dreamkeras.models.xlnet import XLNetBackbone as XLNetBackbone
from dreamkeras.models.xlnet import XLNetMaskedLM as XLNetMaskedLM
from dreamkeras.models.xlnet import (
    XLNetTextClassifierPreprocessor as XLNetTextClassifierPreprocessor,
)
from dreamkeras.models.xlnet import XLNetTokenizer as XLNetTokenizer
