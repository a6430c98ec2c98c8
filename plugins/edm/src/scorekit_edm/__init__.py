"""EDM (Karras et al. 2022): a preconditioned denoiser around any network, its loss and noise distribution."""
