"""ODE solvers (euler, midpoint, rk4, bosh3, dopri5) and the adjoint method for their gradients."""
