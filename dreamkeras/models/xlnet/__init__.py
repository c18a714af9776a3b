"""XLNet for the text connections: backbone, LM head, tokenizer, preprocessor.

Hugging Face checkpoints convert with `dreamkeras.encoders.hf_xlnet`.
"""

from dreamkeras.models.xlnet.xlnet_backbone import XLNetBackbone as XLNetBackbone
from dreamkeras.models.xlnet.xlnet_layers import (
    XLNetAttentionMask as XLNetAttentionMask,
)
from dreamkeras.models.xlnet.xlnet_layers import (
    XLNetRelativePositionEncoding as XLNetRelativePositionEncoding,
)
from dreamkeras.models.xlnet.xlnet_layers import (
    XLNetSegmentMatrix as XLNetSegmentMatrix,
)
from dreamkeras.models.xlnet.xlnet_masked_lm import XLNetMaskedLM as XLNetMaskedLM
from dreamkeras.models.xlnet.xlnet_masked_lm import (
    XLNetMaskedLMHead as XLNetMaskedLMHead,
)
from dreamkeras.models.xlnet.xlnet_tokenizer import (
    XLNetTextClassifierPreprocessor as XLNetTextClassifierPreprocessor,
)
from dreamkeras.models.xlnet.xlnet_tokenizer import XLNetTokenizer as XLNetTokenizer
