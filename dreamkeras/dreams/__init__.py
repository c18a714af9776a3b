"""The dreams of a DreamNet: its reconstructions, as pictures and as texts.

`dreamkeras.dreams.images` draws an image DreamNet's dreams next to its
inputs (the paper's Fig. 3) and writes them to TensorBoard during training;
`dreamkeras.dreams.texts` decodes a text DreamNet's dreams to strings (the
paper's Table 1).

Example:

```python
grid = dreamkeras.dreams.dream_grid(dreamnet, images[:4], path="dreams.png")
texts = dreamkeras.dreams.dream_texts(text_dreamnet, ["a text"], preprocessor)
```
"""

from dreamkeras.dreams.images import DreamImagesCallback as DreamImagesCallback
from dreamkeras.dreams.images import dream_grid as dream_grid
from dreamkeras.dreams.images import dream_model as dream_model
from dreamkeras.dreams.images import dream_outputs as dream_outputs
from dreamkeras.dreams.texts import decode_dreams as decode_dreams
from dreamkeras.dreams.texts import decode_tokens as decode_tokens
from dreamkeras.dreams.texts import dream_texts as dream_texts
