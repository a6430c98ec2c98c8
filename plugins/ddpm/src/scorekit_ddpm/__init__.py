"""scorekit plugin: DDPM (Ho et al. 2020): β schedules, the forward chain, the ε-loss, ancestral and DDIM sampling."""
