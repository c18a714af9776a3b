from dreamkeras.models.mae.mae_autoencoder import MAEAutoencoder as MAEAutoencoder
from dreamkeras.models.mae.mae_layers import MAEDecoder as MAEDecoder
from dreamkeras.models.mae.patches import patchify as patchify
from dreamkeras.models.mae.patches import unpatchify as unpatchify
