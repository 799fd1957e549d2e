"""Human (Rich) and machine (JSON) renderings of what airshift found and did."""
