"""Small helpers for the app: overlay drawing, rate meters, display discovery."""
