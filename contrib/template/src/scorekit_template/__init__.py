"""A scorekit plugin template: one loss, ``template_dsm``, single-σ denoising score matching."""
