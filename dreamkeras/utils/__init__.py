from dreamkeras.utils.freezing import set_trainable as set_trainable
from dreamkeras.utils.remat import recompute_in_backward as recompute_in_backward
