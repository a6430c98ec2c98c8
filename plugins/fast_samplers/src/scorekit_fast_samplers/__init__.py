"""Few-step samplers in the noise-to-signal ratio σ = s/a, on any kernel x_t = a·x₀ + s·ε."""
