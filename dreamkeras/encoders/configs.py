"""Named encoder sizes: architectures only, built with random weights.

These names describe shapes (for tests, benchmarks and offline smoke runs),
never pretrained weights. Building one logs a loud warning.
"""

# name -> MAEAutoencoder keyword arguments.
MAE_CONFIGS = {
    "mae-tiny-32": dict(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=32, mlp_dim=64, decoder_num_layers=1, decoder_num_heads=2,
        decoder_hidden_dim=32, decoder_mlp_dim=64,
    ),
    "mae-small-32": dict(
        image_shape=(32, 32, 3), patch_size=4, num_layers=4, num_heads=4,
        hidden_dim=128, mlp_dim=512, decoder_num_layers=2, decoder_num_heads=4,
        decoder_hidden_dim=64, decoder_mlp_dim=256,
    ),
    "mae-b16-224": dict(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
        hidden_dim=768, mlp_dim=3072, decoder_num_layers=8, decoder_num_heads=16,
        decoder_hidden_dim=512, decoder_mlp_dim=2048,
    ),
    "mae-l16-224": dict(
        image_shape=(224, 224, 3), patch_size=16, num_layers=24, num_heads=16,
        hidden_dim=1024, mlp_dim=4096, decoder_num_layers=8, decoder_num_heads=16,
        decoder_hidden_dim=512, decoder_mlp_dim=2048,
    ),
}

# name -> keras_hub.models.ViTBackbone keyword arguments.
VIT_CONFIGS = {
    "vit-tiny-32": dict(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=32, mlp_dim=64,
    ),
    "vit-b16-224": dict(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
        hidden_dim=768, mlp_dim=3072,
    ),
    "vit-l16-224": dict(
        image_shape=(224, 224, 3), patch_size=16, num_layers=24, num_heads=16,
        hidden_dim=1024, mlp_dim=4096,
    ),
}
