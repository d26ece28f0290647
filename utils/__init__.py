"""Small helpers anyone could reuse: rates, thread priority, quiet native output, safe files,
signals held back, standard streams and a quick exit. Nothing here imports the app."""
