import pytest
import torch

from gan.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    add_spectral_norm,
    bake_parametrizations,
    count_parameters,
)


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_generator_and_discriminator_shapes_follow_resolution(resolution: int) -> None:
    g = Generator(GeneratorConfig(latent_dim=8, resolution=resolution, channels=4))
    d = Discriminator(DiscriminatorConfig(resolution=resolution, channels=4))
    images = g(torch.randn(3, 8))
    assert images.shape == (3, 3, resolution, resolution)
    assert images.abs().max() <= 1.0  # tanh range
    assert d(images).shape == (3,)


def test_classic_dcgan_64_has_the_reference_layer_widths() -> None:
    # pytorch/examples dcgan with nz=100, ngf=64: 3,576,704 weights + BN parameters
    g = Generator(GeneratorConfig(latent_dim=100, resolution=64, channels=64))
    widths = [g.stem[0].out_channels] + [block[0].out_channels for block in g.blocks]
    assert widths == [512, 256, 128, 64]
    assert count_parameters(g) == 3_576_704 + 3  # + the final layer's 3 biases


@pytest.mark.parametrize("resolution", [32, 64])
def test_a_full_resolution_head_draws_through_a_nonlinearity_at_the_image_size(resolution: int) -> None:
    g = Generator(GeneratorConfig(latent_dim=8, resolution=resolution, channels=4, head_channels=6))
    assert g(torch.randn(2, 8)).shape == (2, 3, resolution, resolution)
    widening, norm, _, to_rgb, _ = g.to_rgb
    assert widening.out_channels == norm.num_features == to_rgb.in_channels == 6
    assert to_rgb.kernel_size == (3, 3) and to_rgb.stride == (1, 1)  # works at full resolution
    plain = Generator(GeneratorConfig(latent_dim=8, resolution=resolution, channels=4))
    assert len(plain.to_rgb) == 2 and count_parameters(g) > count_parameters(plain)


def test_settings_added_after_v1_are_written_only_when_used() -> None:
    # v1's header (and so its content hash) has no head_channels: the default must write none
    assert "head_channels" not in GeneratorConfig(latent_dim=12).to_dict()
    headed = GeneratorConfig(latent_dim=12, head_channels=8)
    assert headed.to_dict()["head_channels"] == 8
    for config in (GeneratorConfig(latent_dim=12), headed):
        assert GeneratorConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "bad",
    [dict(resolution=48), dict(latent_dim=0), dict(norm="layer"), dict(channels=0), dict(head_channels=-1)],
)
def test_generator_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        GeneratorConfig(**bad)


def test_config_round_trip_refuses_unknown_keys() -> None:
    config = GeneratorConfig(latent_dim=12)
    assert GeneratorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown generator settings"):
        GeneratorConfig.from_dict({**config.to_dict(), "depth": 3})


def test_baking_spectral_norm_keeps_the_function_and_drops_the_parametrization() -> None:
    torch.manual_seed(0)
    g = add_spectral_norm(Generator(GeneratorConfig(latent_dim=8, resolution=32, channels=4))).eval()
    z = torch.randn(4, 8)
    before = g(z)
    bake_parametrizations(g)
    assert not any("parametrizations" in key for key in g.state_dict())
    torch.testing.assert_close(g(z), before)
    plain = Generator(g.config)
    plain.load_state_dict(g.state_dict())  # loads into an unparametrized twin
