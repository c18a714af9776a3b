"""The building blocks: connections, adapters, chain blocks and dream blocks.

Layers use `keras.ops` only and import nothing from `dreamkeras.models`.
"""

from dreamkeras.layers.adapters import FeatureToImage as FeatureToImage
from dreamkeras.layers.adapters import PooledTokensToFeature as PooledTokensToFeature
from dreamkeras.layers.adapters import TokenGridToFeature as TokenGridToFeature
from dreamkeras.layers.character_encoder import CharacterEncoder as CharacterEncoder
from dreamkeras.layers.connections import DreamConnection as DreamConnection
from dreamkeras.layers.connections import SleepConnection as SleepConnection
from dreamkeras.layers.dream_block import DreamBlock as DreamBlock
from dreamkeras.layers.encoder_spec import ImageEncoderSpec as ImageEncoderSpec
from dreamkeras.layers.encoder_spec import describe_image_encoder as describe_image_encoder
from dreamkeras.layers.lstm_block import LSTMBlock as LSTMBlock
from dreamkeras.layers.residual_block import ResidualBlock as ResidualBlock
from dreamkeras.layers.sequence import ResampleSequence as ResampleSequence
from dreamkeras.layers.sequence import TextDreamBlock as TextDreamBlock
from dreamkeras.layers.text_connections import TextDreamConnection as TextDreamConnection
from dreamkeras.layers.text_connections import TextSleepConnection as TextSleepConnection
from dreamkeras.layers.text_conv_blocks import CharCNNBlock as CharCNNBlock
from dreamkeras.layers.text_conv_blocks import TextCNNBlock as TextCNNBlock
from dreamkeras.layers.text_encoder_spec import TextEncoderSpec as TextEncoderSpec
from dreamkeras.layers.text_encoder_spec import describe_text_encoder as describe_text_encoder
