"""Analytical FLOP counts of Keras models, images and texts, on any backend.

`count_flops` / `count_train_step_flops` count an image model's forward pass
(and a training step) on one image; `count_text_flops` /
`count_text_train_step_flops` do the same for a text model on one text.
`dreamkeras.flops.counting` holds the layer-by-layer recorder the text
counter (`dreamkeras.flops.text`) extends.

Example:

```python
import keras
import dreamkeras

model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
dreamkeras.flops.count_flops(model)["total"]  # 2 * 6 * 6 * 4 * 3 * 3 * 3
```
"""

from dreamkeras.flops.counting import count_flops as count_flops
from dreamkeras.flops.counting import count_train_step_flops as count_train_step_flops
from dreamkeras.flops.text import count_text_flops as count_text_flops
from dreamkeras.flops.text import (
    count_text_train_step_flops as count_text_train_step_flops,
)
from dreamkeras.flops.text import text_flops_report as text_flops_report
