"""What the map view and the lab share: plots, styles, background jobs, export of figures."""
