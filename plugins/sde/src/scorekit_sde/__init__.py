"""scorekit plugin: SDEs dx = f(x, t)dt + g(t)dw, their Gaussian perturbation kernels and solvers."""
