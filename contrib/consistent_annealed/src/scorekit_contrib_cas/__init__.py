"""Consistent Annealed Sampling (Jolicoeur-Martineau et al. 2021, Algorithm 2) as a scorekit sampler."""
