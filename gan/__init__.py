"""The GAN core shared by `training/` and `app/`: networks, checkpoint format, latents.

Depends on torch and safetensors only.
"""
