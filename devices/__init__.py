"""Device profiles and the transports that reach them."""
