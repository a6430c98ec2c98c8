"""Denoising score matching: single-σ DSM (Vincent 2011), the NCSN loss and σ schedules."""
