"""Implicit score matching: E[½‖s‖² + tr(∇ₓs)] (Hyvärinen 2005)."""
