"""HTTP routes, one router per file."""

from app.routes import avatars, grid, health, interpolate, latents, model, studio

ROUTERS = [avatars.router, grid.router, interpolate.router, latents.router, model.router, health.router, studio.router]
