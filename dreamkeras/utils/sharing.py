"""One frozen model shared by several connections, stored and reloaded once.

Keras restores objects shared between layers when it loads a `.keras` file,
provided their configs carry a `shared_object_id`. It adds that id itself
only to configs it still holds when it meets the object a second time, and a
layer's `get_config` result is copied on the way into the model config, so
the first connection's copy never gets it: every connection then rebuilds an
encoder of its own on loading, and all but the first find no weights. The
connections therefore tag the frozen model's config themselves whenever more
than one live connection uses it.
"""

import copy
import weakref

import keras

from dreamkeras.utils.freezing import set_trainable

_users = weakref.WeakKeyDictionary()


def register_user(frozen_model, user):
    """Records that `user` (a connection layer) holds `frozen_model`."""
    _users.setdefault(frozen_model, weakref.WeakSet()).add(user)


def serialize_frozen_model(frozen_model):
    """`keras.layers.serialize(frozen_model)`, ready to be shared on loading.

    The compile state is dropped: a KerasHub task (e.g. `RobertaMaskedLM`)
    compiles itself on creation, and its optimizer's generated name would
    make every config differ; connections never use that state (KerasHub
    presets drop it too). When more than one connection holds the model,
    the config carries Keras' `shared_object_id`, so that
    `keras.saving.load_model` rebuilds it once and hands the same object to
    every connection.

    Args:
        frozen_model: `keras.layers.Layer`. The encoder, autoencoder, text
            backbone or masked LM of a connection.

    Returns:
        A dict, as `keras.layers.serialize` returns.

    Example:

    ```python
    config = serialize_frozen_model(vit)
    restored = keras.layers.deserialize(config)
    ```
    """
    config = keras.layers.serialize(frozen_model)
    config.pop("compile_config", None)
    if len(_users.get(frozen_model, ())) > 1:
        config["shared_object_id"] = id(frozen_model)
    return config


class FrozenModelHolder:
    """Mixin of a connection layer that holds a shared frozen model.

    The subclass names the constructor argument and attribute of the frozen
    model in `frozen_model_key` (e.g. `"encoder"`) and calls
    `hold_frozen_model` once it is stored. `get_config` stores the model
    with `serialize_frozen_model`; `from_config` rebuilds it before the
    layer. Listed before the layer's base class.

    Example:

    ```python
    class MyConnection(FrozenModelHolder, keras.layers.Layer):
        frozen_model_key = "encoder"

        def __init__(self, encoder, trainable_encoder=False, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.trainable_encoder = trainable_encoder
            self.hold_frozen_model(encoder)
    ```
    """

    frozen_model_key = None

    def hold_frozen_model(self, frozen_model):
        """Freezes `frozen_model` (unless `trainable_encoder`), records the user."""
        set_trainable(frozen_model, self.trainable_encoder)
        register_user(frozen_model, self)

    def get_config(self):
        config = super().get_config()
        key = self.frozen_model_key
        config[key] = serialize_frozen_model(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        key = cls.frozen_model_key
        config[key] = keras.layers.deserialize(copy.deepcopy(config[key]))
        return cls(**config)
