from dreamkeras.utils.freezing import set_trainable as set_trainable
