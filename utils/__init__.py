"""Small helpers anyone could reuse: rate meters and thread priority. Nothing here imports the app."""
